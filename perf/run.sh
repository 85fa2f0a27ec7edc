#!/bin/bash
# The perf harness (docs/perf.md). Usage:
#   perf/run.sh [--quick] [--json FILE] [--out DIR] [--build DIR] [--cpus A[,B]]
#               [--hugepages] [--no-secgw]
# --quick: under a minute (once the ipsec-secgw binary is cached). The full
# run takes about ten minutes. Writes DIR/report.md, DIR/perf.png,
# DIR/perf.json (and FILE with --json), DIR/log.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build"
args=()
while (($#)); do
  case "$1" in
    --build) build=$(realpath "$2"); shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
out="$build/perf-report"
for ((i = 0; i < ${#args[@]}; i++)); do
  [[ "${args[$i]}" == --out ]] && out="${args[$((i + 1))]}"
done
# As root, installs what is missing (build packages, dpdk-doc for
# ipsec-secgw, matplotlib for the plot); otherwise runs with what is there
# and reports what it could not measure (secgw "n/a", no PNG).
if [[ $(id -u) -eq 0 ]]; then
  bash "$root/scripts/install-deps.sh" perf
fi
if [[ ! -d "$build" ]]; then
  meson setup "$build" "$root" >/dev/null
fi
ninja -C "$build" -j2 perf/dp_bench perf/memsrc_preload.so controlplane/ike/ike_bench >/dev/null
# Debian's python3 (python3-matplotlib for the PNG), whatever is first in PATH.
py=/usr/bin/python3
[[ -x "$py" ]] || py=python3
has_out=0
for a in "${args[@]+"${args[@]}"}"; do [[ "$a" == --out ]] && has_out=1; done
extra=()
((has_out)) || extra=(--out "$out")
exec "$py" "$root/perf/driver.py" --build "$build" "${extra[@]+"${extra[@]}"}" "${args[@]+"${args[@]}"}"
