#!/bin/bash
# perf_smoke (suite unit): dp_bench must still build, set up, and forward
# every packet it is fed, in both directions, through RunBursts and through
# the memory source. Not a measurement: tiny runs, one trial.
set -euo pipefail
dp_bench=$1
cpu=$(taskset -pc $$ | sed 's/.*: *//; s/[,-].*//')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
timeout 60 "$dp_bench" --mode pipeline --sessions 5 --sizes 64,1400 --trials 1 \
  --min-frames 64 --trial-packets 64 --cpus "$cpu" --json "$tmp/r.json"
timeout 60 "$dp_bench" --mode io --sessions 4 --sizes imix --min-frames 64 \
  --warmup 64 --window 256 --windows 1 --cpus "$cpu" --json "$tmp/r.json"
# Two threads measuring at once (here both on one cpu: only the plumbing).
timeout 60 "$dp_bench" --mode memory --sets 1,4 --trials 1 --workers 2 --cpus "$cpu,$cpu" \
  --json "$tmp/m.json"
# One record per direction and size, each with every field the report needs.
python3 - "$tmp/r.json" "$tmp/m.json" <<'PY'
import json, sys
mem = [json.loads(l) for l in open(sys.argv[2])]
assert [(m["cores"], m["working_set_mib"]) for m in mem] == [(1, 1), (1, 4), (2, 1), (2, 4)], mem
assert all(m["kind"] == "memory" and m["latency_cycles"] > 0 and
           m["throughput_cycles_per_line"] > 0 for m in mem), mem
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 6, recs
for r in recs:
    for k in ("direction", "inner_bytes", "sessions", "workers", "mpps", "gbps",
              "cycles_per_packet"):
        assert k in r, (k, r)
    assert r["mpps"] > 0 and r["cycles_per_packet"] > 0, r
pipe = [r for r in recs if r["kind"] == "pipeline"]
assert len(pipe) == 4 and all(r["raw_crypto_cycles_per_packet"] > 0 for r in pipe), pipe
print("perf smoke ok:", len(recs), "records")
PY
