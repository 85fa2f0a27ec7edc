#!/usr/bin/env bash
# The main job (README's first command): installs what is missing, builds,
# starts the concentrator with the embedded default config
# (docs/configs/default.toml) on DPDK af_packet ports inside network
# namespaces, connects simulated L2TP/IPsec clients (IKEv1 Main Mode PSK,
# ESP AES-128-CBC/SHA1 in UDP 4500, L2TP, PPP MS-CHAPv2, IPCP), passes
# traffic to a host on the LAN side and back, prints the session table and
# throughput while it runs, and removes everything it created on exit or
# Ctrl-C (namespaces, veths, processes, /var/run/dpdk files, shared memory).
#
#   scripts/demo.sh [--clients N] [--duration SECONDS] [--real-client]
#                   [--build DIR] [--no-install]
#
# --clients N      simulated clients (default 24), all from 198.18.0.2 with
#                  their own UDP ports (the concentrator tells them apart by SA)
# --duration S     how long the clients send traffic (default 30; Ctrl-C ends
#                  it early); the demo ends by itself after about S + 15 s
# --real-client    afterwards, boots a stock Debian client guest (strongSwan +
#                  xl2tpd + pppd under QEMU, tests/interop) against a second
#                  concentrator with the interop harness's seed-004 config
#                  (scenario "direct"; 3-6 minutes, the guest image is built
#                  and cached on first use)
# --build DIR      build directory (default build/, set up as a release build)
# --no-install     do not run scripts/install-deps.sh
# Last line: "demo: PASS ..." or "demo: FAIL ..."; exit 0 only on PASS.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLIENTS=24
DURATION=30
REAL=0
INSTALL=1
BUILD=$ROOT/build
while [[ $# -gt 0 ]]; do
  case "$1" in
    --clients) CLIENTS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --real-client) REAL=1; shift ;;
    --build) BUILD=$(realpath -m "$2"); shift 2 ;;
    --no-install) INSTALL=0; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "demo: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $CLIENTS =~ ^[0-9]+$ && $CLIENTS -ge 1 && $CLIENTS -le 100 ]] ||
  { echo "demo: --clients 1..100 (the default pool has 100 addresses)" >&2; exit 2; }
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 5 && $DURATION -le 3600 ]] ||
  { echo "demo: --duration 5..3600 seconds" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "demo: run as root (namespaces, DPDK)" >&2; exit 1; }

if ((INSTALL)); then
  echo "demo: installing dependencies (if missing)"
  # Build packages plus the tools the demo itself uses; QEMU and friends
  # only for --real-client.
  "$ROOT/scripts/install-deps.sh" "$([[ $REAL -eq 1 ]] && echo all || echo build)" || exit 1
  missing=()
  for p in iproute2 ethtool procps; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
      >/dev/null || { echo "demo: apt-get install ${missing[*]} failed" >&2; exit 1; }
  fi
fi

echo "demo: building (release) in $BUILD"
if [[ ! -f $BUILD/build.ninja ]]; then
  meson setup "$BUILD" "$ROOT" --buildtype=release -Doptimization=2 >/dev/null || exit 1
fi
ninja -C "$BUILD" -j2 dataplane/core/vpn-dataplane controlplane/app/vpn-controlplane \
  controlplane/ctl/vpnctl tests/clientsim/vpn-clientsim >/dev/null ||
  { echo "demo: build failed (ninja -C $BUILD)" >&2; exit 1; }
CP=$BUILD/controlplane/app/vpn-controlplane
CTL=$BUILD/controlplane/ctl/vpnctl
SIM=$BUILD/tests/clientsim/vpn-clientsim

TAG=demo$$
NS_DP=$TAG-dp NS_WAN=$TAG-wan NS_LAN=$TAG-lan
WORK=$(mktemp -d /tmp/vpnconc-demo.XXXXXX)
CONFIG=$WORK/vpn.toml
RUN_PID= SIM_PID= PREFIX=
echo "demo: tag $TAG (namespaces $NS_DP $NS_WAN $NS_LAN, shared memory /dev/shm/$TAG)"

cleanup() {
  trap - INT TERM EXIT HUP
  echo "demo: cleaning up"
  if [[ -n $SIM_PID ]] && kill -0 "$SIM_PID" 2>/dev/null; then
    kill -TERM "$SIM_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$SIM_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$SIM_PID" 2>/dev/null
  fi
  # scripts/run.sh stops both processes and removes the DPDK runtime
  # directory and the shared-memory segment.
  if [[ -n $RUN_PID ]] && kill -0 "$RUN_PID" 2>/dev/null; then
    kill -TERM "$RUN_PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$RUN_PID" 2>/dev/null
  fi
  wait 2>/dev/null
  for ns in "$NS_DP" "$NS_WAN" "$NS_LAN"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "/var/run/dpdk/$TAG" ${PREFIX:+"/var/run/dpdk/$PREFIX"} "/dev/shm/$TAG" "$WORK"
  echo "demo: removed namespaces, processes, /var/run/dpdk/${PREFIX:-$TAG}, /dev/shm/$TAG, $WORK"
}
trap cleanup EXIT
trap 'echo "demo: interrupted"; exit 130' INT TERM HUP

# Topology: WAN namespace (clients, 198.18.0.0/24) -- concentrator -- LAN
# namespace (host 100.64.0.10, the pool's own subnet reached by proxy-ARP).
for ns in "$NS_DP" "$NS_WAN" "$NS_LAN"; do
  ip netns add "$ns" || exit 1
  ip -n "$ns" link set lo up
done
ip -n "$NS_DP" link add dp-wan type veth peer name wan0 &&
ip -n "$NS_DP" link add dp-lan type veth peer name lan0 &&
ip -n "$NS_DP" link set wan0 netns "$NS_WAN" &&
ip -n "$NS_DP" link set lan0 netns "$NS_LAN" &&
ip -n "$NS_DP" link set dp-wan up &&
ip -n "$NS_DP" link set dp-lan up &&
ip -n "$NS_WAN" addr add 198.18.0.2/24 dev wan0 &&
ip -n "$NS_WAN" link set wan0 up &&
ip -n "$NS_LAN" addr add 100.64.0.10/24 dev lan0 &&
ip -n "$NS_LAN" link set lan0 up || { echo "demo: topology setup failed" >&2; exit 1; }
# The kernel in the concentrator's namespace must stay quiet on its veths
# (DPDK owns the addresses).
ip netns exec "$NS_DP" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
# veth leaves TCP/UDP checksums to offload; af_packet reads frames raw.
ip netns exec "$NS_WAN" ethtool -K wan0 tx off >/dev/null 2>&1
ip netns exec "$NS_LAN" ethtool -K lan0 tx off >/dev/null 2>&1

"$CP" --print-default-config |
  sed -e "s|^shm_name = .*|shm_name = \"$TAG\"|" \
      -e "s|^control_socket = .*|control_socket = \"$WORK/control.sock\"|" > "$CONFIG"
chmod 600 "$CONFIG"
PREFIX=$("$CP" --config "$CONFIG" --print-setting file_prefix) || exit 1

echo "demo: starting the concentrator (WAN 198.18.0.1, LAN 100.64.0.254, embedded default config)"
# The worker polls; a short sleep after an idle spell leaves the CPU to the
# control plane and the simulator when they share a small machine.
ip netns exec "$NS_DP" env BUILD_DIR="$BUILD" DP_ARGS="--idle-sleep-us 50" \
  "$ROOT/scripts/run.sh" "$CONFIG" \
  > "$WORK/run.log" 2>&1 &
RUN_PID=$!
for _ in $(seq 900); do
  grep -q "concentrator ready" "$WORK/run.log" && break
  kill -0 "$RUN_PID" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q "concentrator ready" "$WORK/run.log"; then
  tail -30 "$WORK/run.log"; echo "demo: FAIL: the concentrator did not start"; exit 1
fi
grep "concentrator ready" "$WORK/run.log"
# The LAN host says hello to its gateway first, as a LAN that carried traffic
# before would have: the dataplane then knows its MAC and need not hold the
# clients' first packets while it resolves it.
ip netns exec "$NS_LAN" ping -c 2 -i 0.2 -W 1 100.64.0.254 >/dev/null 2>&1

# Every client pings the LAN host 10 times a second with 1000-byte packets
# for DURATION seconds, then holds a few seconds and tears down politely.
# Traffic starts 1 s after IPCP is up, as a desktop client's does once it has
# configured its interface: a packet sent within milliseconds of IPCP can
# still meet the dataplane before its session record is visible
# (l2tp_unknown_session), which the system tests track, not the demo.
COUNT=$((DURATION * 10))
echo "demo: connecting $CLIENTS simulated clients (user demo, MS-CHAPv2), ping 100.64.0.10 for ${DURATION}s"
ip netns exec "$NS_WAN" "$SIM" --server 198.18.0.1 --clients "$CLIENTS" --rate 20 \
  --user demo --password demo-password --psk secret123 \
  --ping 100.64.0.10 --count "$COUNT" --interval 100 --size 1000 --hold 3 --traffic-delay 1 \
  --max-time $((DURATION + 60)) --json "$WORK/sim.json" > "$WORK/sim.log" 2>&1 &
SIM_PID=$!

# Throughput from the dataplane's port counters (shared memory), per interval.
counters() { "$CTL" --shm "$TAG" --json show counters 2>/dev/null; }
rate_line() {  # previous JSON, current JSON, seconds
  /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import json, sys
try:
    a, b, dt = json.loads(sys.argv[1]), json.loads(sys.argv[2]), float(sys.argv[3])
except ValueError:
    sys.exit(0)
def r(p, k):
    return (b["ports"][p][k] - a["ports"][p][k]) * 8 / dt / 1e6
def pps(p, k):
    return (b["ports"][p][k] - a["ports"][p][k]) / dt
print("throughput: WAN in %.2f Mbit/s (%.0f pkt/s) out %.2f Mbit/s; LAN out %.2f Mbit/s in %.2f Mbit/s"
      % (r(0, "rx_bytes"), pps(0, "rx_packets"), r(0, "tx_bytes"), r(1, "tx_bytes"), r(1, "rx_bytes")))
PY
}
prev=$(counters)
t0=$(date +%s)
deadline=$((t0 + DURATION + 90))
while kill -0 "$SIM_PID" 2>/dev/null && (($(date +%s) < deadline)); do
  for _ in $(seq 25); do kill -0 "$SIM_PID" 2>/dev/null && sleep 0.2; done
  kill -0 "$SIM_PID" 2>/dev/null || break
  cur=$(counters)
  echo "---- t=$(($(date +%s) - t0))s: vpnctl show sessions ----"
  "$CTL" --socket "$WORK/control.sock" show sessions | head -13
  n=$("$CTL" --socket "$WORK/control.sock" --json show status 2>/dev/null |
      sed -n 's/.*"ppp_sessions": \([0-9]*\).*/\1/p')
  echo "sessions up: ${n:-?}"
  rate_line "$prev" "$cur" 5
  prev=$cur
done
if kill -0 "$SIM_PID" 2>/dev/null; then
  echo "demo: the simulator overran its time; stopping it"
  kill -TERM "$SIM_PID"
fi
wait "$SIM_PID"
SIM_RC=$?
SIM_PID=
grep -E "^(summary|clientsim):" "$WORK/sim.log"
echo "---- final dataplane counters (vpnctl show counters) ----"
"$CTL" --shm "$TAG" show counters
left=$("$CTL" --socket "$WORK/control.sock" --json show status 2>/dev/null |
       sed -n 's/.*"ppp_sessions": \([0-9]*\).*/\1/p')
echo "demo: sessions left on the concentrator after the clients' teardown: ${left:-?}"

line=$(grep -E "^clientsim: [0-9]+ connected" "$WORK/sim.log" | tail -1)
traffic=$(grep -E "^summary: traffic" "$WORK/sim.log" | tail -1)
[[ $SIM_RC -ne 0 ]] && grep -E "FAIL" "$WORK/sim.log" | head -5

REAL_RC=0
if [[ $REAL -eq 1 ]]; then
  # The guest gets its own topology and concentrator from the interop
  # harness: remove ours first so the two do not compete for the CPU.
  cleanup
  echo "demo: booting a stock Debian client guest (strongSwan + xl2tpd + pppd) against a second concentrator"
  VPNCONC_BUILD="$BUILD" "$ROOT/tests/interop/run.sh" --target concentrator direct
  REAL_RC=$?
fi

if [[ $SIM_RC -eq 0 && $REAL_RC -eq 0 && -n $line ]]; then
  echo "demo: PASS: ${line#clientsim: }; ${traffic#summary: }"
  exit 0
fi
echo "demo: FAIL: simulator rc=$SIM_RC (${line#clientsim: }), real client rc=$REAL_RC"
exit 1
