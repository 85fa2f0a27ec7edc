#!/usr/bin/env bash
# The main job (README's first command): installs what is missing, builds,
# starts the concentrator with the embedded default config on DPDK af_packet
# ports inside network namespaces, connects simulated L2TP/IPsec clients
# (IKEv1 Main Mode PSK, ESP AES-128-CBC/SHA1 in UDP 4500, L2TP, PPP
# MS-CHAPv2, IPCP), passes traffic to a host on the LAN side and back, prints
# the session table and counters while it runs, and removes everything it
# created on exit or Ctrl-C.
#
#   scripts/demo.sh [--clients N] [--duration SECONDS] [--real-client]
#
# --real-client also boots a stock Debian client (strongSwan + xl2tpd + pppd)
# in a QEMU guest against the concentrator (tests/interop, ~2-4 minutes).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLIENTS=24
DURATION=30
REAL=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --clients) CLIENTS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --real-client) REAL=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "demo: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "demo: run as root (namespaces, DPDK)" >&2; exit 1; }

echo "demo: installing dependencies (if missing) and building"
"$ROOT/scripts/install-deps.sh" all || exit 1
BUILD=$ROOT/build
if [[ ! -f $BUILD/build.ninja ]]; then
  meson setup "$BUILD" --buildtype=release -Doptimization=2 >/dev/null || exit 1
fi
ninja -C "$BUILD" >/dev/null || { echo "demo: build failed" >&2; exit 1; }
CP=$BUILD/controlplane/app/vpn-controlplane
CTL=$BUILD/controlplane/ctl/vpnctl
SIM=$BUILD/tests/clientsim/vpn-clientsim
[[ -x $SIM ]] || { echo "demo: $SIM missing" >&2; exit 1; }

TAG=demo$$
NS_DP=$TAG-dp NS_WAN=$TAG-wan NS_LAN=$TAG-lan
WORK=$(mktemp -d /tmp/vpnconc-demo.XXXXXX)
RUN_PID=
cleanup() {
  trap - INT TERM EXIT
  echo "demo: cleaning up"
  [[ -n $RUN_PID ]] && kill -TERM "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null
  for ns in "$NS_DP" "$NS_WAN" "$NS_LAN"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$WORK" "/var/run/dpdk/$TAG" "/dev/shm/$TAG"
}
trap cleanup INT TERM EXIT

# Topology: WAN namespace (clients, 198.18.0.0/24) -- concentrator -- LAN
# namespace (host 100.64.0.10, the pool's own subnet reached by proxy-ARP).
for ns in "$NS_DP" "$NS_WAN" "$NS_LAN"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip -n "$NS_DP" link add dp-wan type veth peer name wan0
ip -n "$NS_DP" link add dp-lan type veth peer name lan0
ip -n "$NS_DP" link set wan0 netns "$NS_WAN"
ip -n "$NS_DP" link set lan0 netns "$NS_LAN"
ip -n "$NS_DP" link set dp-wan up
ip -n "$NS_DP" link set dp-lan up
ip -n "$NS_WAN" addr add 198.18.0.2/24 dev wan0
ip -n "$NS_WAN" link set wan0 up
ip -n "$NS_LAN" addr add 100.64.0.10/24 dev lan0
ip -n "$NS_LAN" link set lan0 up
# veth leaves TCP/UDP checksums to offload; af_packet reads frames raw.
ip netns exec "$NS_WAN" ethtool -K wan0 tx off >/dev/null 2>&1
ip netns exec "$NS_LAN" ethtool -K lan0 tx off >/dev/null 2>&1

CONFIG=$WORK/vpn.toml
"$CP" --print-default-config |
  sed -e "s|^shm_name = .*|shm_name = \"$TAG\"|" \
      -e "s|^control_socket = .*|control_socket = \"$WORK/control.sock\"|" > "$CONFIG"
chmod 600 "$CONFIG"

echo "demo: starting the concentrator (WAN 198.18.0.1, LAN 100.64.0.254)"
ip netns exec "$NS_DP" env BUILD_DIR="$BUILD" "$ROOT/scripts/run.sh" "$CONFIG" \
  > "$WORK/run.log" 2>&1 &
RUN_PID=$!
for _ in $(seq 600); do
  grep -q "concentrator ready" "$WORK/run.log" && break
  kill -0 "$RUN_PID" 2>/dev/null || break
  sleep 0.1
done
grep -q "concentrator ready" "$WORK/run.log" || { cat "$WORK/run.log"; exit 1; }
echo "demo: concentrator ready"

echo "demo: connecting $CLIENTS simulated clients, traffic to 100.64.0.10 for ${DURATION}s"
ip netns exec "$NS_WAN" "$SIM" --server 198.18.0.1 --clients "$CLIENTS" --rate 20 \
  --user demo --password demo-password --psk secret123 \
  --ping 100.64.0.10 --count "$DURATION" --hold "$DURATION" --json "$WORK/sim.json" \
  > "$WORK/sim.log" 2>&1 &
SIM_PID=$!
for ((t = 0; t < DURATION + 30; t += 5)); do
  sleep 5
  kill -0 "$SIM_PID" 2>/dev/null || break
  echo "---- t=${t}s sessions ----"
  "$CTL" --socket "$WORK/control.sock" show sessions | head -12
  "$CTL" --shm "$TAG" show counters | head -4
done
wait "$SIM_PID"
SIM_RC=$?
tail -15 "$WORK/sim.log"
echo "---- final counters ----"
"$CTL" --shm "$TAG" show counters

if [[ $REAL -eq 1 ]]; then
  echo "demo: booting a stock Debian client guest against a fresh concentrator"
  VPNCONC_BUILD="$BUILD" "$ROOT/tests/interop/run.sh" --target concentrator direct
fi
exit $SIM_RC
