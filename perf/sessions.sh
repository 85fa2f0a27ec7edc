#!/usr/bin/env bash
# Session scale and connect rate (docs/perf.md, "Session scale and connect
# rate"): both concentrator processes on af_packet ports in namespaces,
# driven by one vpn-clientsim process. Needs root.
#
#   perf/sessions.sh [--quick] [--json FILE] [--build DIR] [--clients N]
#                    [--rate R] [--sources S] [--sample K] [...]
#
# --quick: 400 clients (about a minute). Default: 4000 clients, at most 400
# connecting at once (2-4 minutes on a loaded 2-vCPU VM). Any other option goes to
# perf/sessions.py (--help lists them). Bounded: the simulator stops itself
# at --max-time, and every process is started under `timeout`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build"
args=()
quick=0
while (($#)); do
  case "$1" in
    --build) build=$(realpath "$2"); shift 2 ;;
    --quick) quick=1; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exec /usr/bin/python3 "$root/perf/sessions.py" --help ;;
    *) args+=("$1"); shift ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "sessions: run as root (namespaces, DPDK)" >&2; exit 77; }
if [[ ! -f "$build/build.ninja" ]]; then
  meson setup "$build" "$root" --buildtype=release -Doptimization=2 >/dev/null
fi
ninja -C "$build" -j2 dataplane/core/vpn-dataplane controlplane/app/vpn-controlplane \
  controlplane/ctl/vpnctl tests/clientsim/vpn-clientsim >/dev/null
pre=()
((quick)) && pre=(--clients 400 --sample 20 --max-time 150)
exec timeout 1500 /usr/bin/python3 "$root/perf/sessions.py" --build "$build" \
  "${pre[@]+"${pre[@]}"}" "${args[@]+"${args[@]}"}"
