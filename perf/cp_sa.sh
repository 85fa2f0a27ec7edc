#!/usr/bin/env bash
# Control-plane cost per phase 2 SA event at scale (docs/perf.md, "Session 6:
# control-plane SA events at scale"): perf/cp_sa_bench at 1k, 10k and 100k
# clients, K rekeys each (overlap + rebind + delete of the old pair), then
# the restart storm at the same sizes: a killed control plane's records
# adopted by the next one and every client reconnecting (cp_sa_bench
# --restart: adopt_s, reconnect_us_*).
#
#   perf/cp_sa.sh [--build DIR] [--rekeys K] [--clients "1000 10000 100000"]
#
# Prints the CPU, the load before and after, and one line per size. Bounded:
# each size stops itself at 110 s and runs under `timeout 150`. Needs no
# root: the daemon's segment is a private /dev/shm name, removed afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build"
rekeys=200
sizes="1000 10000 100000"
while (($#)); do
  case "$1" in
    --build) build=$(realpath "$2"); shift 2 ;;
    --rekeys) rekeys=$2; shift 2 ;;
    --clients) sizes=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "cp_sa: unknown option $1" >&2; exit 2 ;;
  esac
done
ninja -C "$build" -j2 perf/cp_sa_bench >/dev/null
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cpus"
echo "git: $(git -C "$root" rev-parse --short HEAD)"
echo "load before: $(uptime)"
rc=0
for n in $sizes; do
  timeout 150 "$build/perf/cp_sa_bench" --clients "$n" --rekeys "$rekeys" --max-seconds 110 || rc=1
done
for n in $sizes; do
  timeout 150 "$build/perf/cp_sa_bench" --restart --clients "$n" --max-seconds 110 || rc=1
done
echo "load after: $(uptime)"
exit $rc
