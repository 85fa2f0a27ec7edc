#!/usr/bin/env bash
# scripts/run.sh CONFIG
# Starts vpn-dataplane and vpn-controlplane in the foreground with one config
# file, reports when both are ready, and on SIGINT/SIGTERM (or when either
# exits) stops both and removes what DPDK and the shared segment leave behind.
# BUILD_DIR selects the build (default: build); DP_ARGS adds vpn-dataplane
# options (e.g. "--idle-sleep-us 50" on a shared machine).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
CONFIG=${1:?usage: scripts/run.sh CONFIG}
CP=$BUILD/controlplane/app/vpn-controlplane
DP=$(find "$BUILD/dataplane" -name vpn-dataplane -type f -perm -u+x 2>/dev/null | head -1)
[[ -x $CP && -n $DP ]] || { echo "run: build first (missing binaries under $BUILD)" >&2; exit 1; }

"$CP" --config "$CONFIG" --check-config >/dev/null || exit 1
PREFIX=$("$CP" --config "$CONFIG" --print-setting file_prefix)
SHM=$("$CP" --config "$CONFIG" --print-setting shm_name)
LOGDIR=$(mktemp -d /tmp/vpnconc-run.XXXXXX)
DP_PID= CP_PID=

cleanup() {
  trap - INT TERM EXIT
  [[ -n $CP_PID ]] && kill -TERM "$CP_PID" 2>/dev/null
  [[ -n $DP_PID ]] && kill -TERM "$DP_PID" 2>/dev/null
  for _ in $(seq 50); do
    { [[ -n $CP_PID ]] && kill -0 "$CP_PID" 2>/dev/null; } || \
    { [[ -n $DP_PID ]] && kill -0 "$DP_PID" 2>/dev/null; } || break
    sleep 0.2
  done
  [[ -n $CP_PID ]] && kill -KILL "$CP_PID" 2>/dev/null
  [[ -n $DP_PID ]] && kill -KILL "$DP_PID" 2>/dev/null
  wait 2>/dev/null
  rm -rf "/var/run/dpdk/$PREFIX" "/dev/shm/${SHM#/}" "$LOGDIR"
  echo "run: stopped"
}
trap cleanup INT TERM EXIT

wait_for() {  # file, pattern, pid, seconds
  local i
  for ((i = 0; i < $4 * 10; i++)); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# shellcheck disable=SC2086 # DP_ARGS is a list of words
"$DP" --config "$CONFIG" ${DP_ARGS:-} > >(tee "$LOGDIR/dp.log" | sed -u 's/^/[dataplane] /') 2>&1 &
DP_PID=$!
if ! wait_for "$LOGDIR/dp.log" "dataplane ready" "$DP_PID" 60; then
  echo "run: vpn-dataplane did not become ready" >&2; exit 1
fi
"$CP" --config "$CONFIG" > >(tee "$LOGDIR/cp.log" | sed -u 's/^/[controlplane] /') 2>&1 &
CP_PID=$!
if ! wait_for "$LOGDIR/cp.log" "vpn-controlplane ready" "$CP_PID" 30; then
  echo "run: vpn-controlplane did not become ready" >&2; exit 1
fi
echo "run: concentrator ready (dataplane pid $DP_PID, controlplane pid $CP_PID); Ctrl-C stops both"
wait -n "$DP_PID" "$CP_PID"
echo "run: a process exited; stopping the other"
