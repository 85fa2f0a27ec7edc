#!/bin/bash
# Anchors vpn-clientsim's correctness against the stock Linux LNS: the interop
# harness's reference server guest (QEMU/TCG: strongSwan IKEv1 responder +
# xl2tpd + pppd, seed 004 settings, tests/interop/) and N simulated clients
# in a namespace on the public segment, each with its own source address,
# pinging the LAN host through IKE/ESP-in-UDP/L2TP/PPP.
#
#   tests/clientsim/against-reference.sh [--clients N] [--out DIR] [--no-negative]
#
# A client passes when vpn-clientsim reports it ok (connected, every ping
# answered) AND the reference server's pppd log shows the address the client
# got. After the run the server must hold no ESP SA (our polite teardown
# sent IKE DELETEs). Negative control (default on): one client with a wrong
# PSK must fail in IKE and the server must install nothing for it.
# Last line: `clientsim-reference: N passed, M failed` (+ `, K skipped` when
# QEMU cannot run here). Environment: VPNCONC_IMAGE_DIR=<dir> (prebuilt
# strongSwan image), CLIENTSIM_BIN (default build/tests/clientsim/vpn-clientsim).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
IROOT="$ROOT/tests/interop"
# shellcheck source=../interop/lib.sh
. "$IROOT/lib.sh"

N=3
NEG=1
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) N="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --no-negative) NEG=0; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "against-reference.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$N" in ''|*[!0-9]*) echo "--clients: a number 1..20" >&2; exit 2 ;; esac
[ "$N" -ge 1 ] && [ "$N" -le 20 ] || { echo "--clients: 1..20" >&2; exit 2; }
BIN="${CLIENTSIM_BIN:-$ROOT/build/tests/clientsim/vpn-clientsim}"
OUT="${OUT:-/tmp/vpnconc-clientsim-ref/run-$(date +%Y%m%d-%H%M%S)-$VIT_RUNID}"
mkdir -p "$OUT"

PASSED=0; FAILEDN=0; SKIPPED=0
finish() {
  if [ "$SKIPPED" -gt 0 ]; then
    echo "clientsim-reference: $PASSED passed, $FAILEDN failed, $SKIPPED skipped"
  else
    echo "clientsim-reference: $PASSED passed, $FAILEDN failed"
  fi
  [ "$FAILEDN" = 0 ]; exit $?
}
expected=$((N + NEG))
skip_all() {
  echo "### SKIP: clientsim against the reference LNS cannot run here: $1" >&2
  SKIPPED=$expected; finish
}

[ -x "$BIN" ] || { echo "FAIL: $BIN not built (ninja -C build tests/clientsim/vpn-clientsim)"; FAILEDN=$expected; finish; }
if [ "$(id -u)" = 0 ] && ! command -v qemu-system-x86_64 >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-system-x86 >/dev/null 2>&1 || true
fi
why=$(vit_qemu_usable) || skip_all "$why"
vit_install_traps

# ---- image: given, this tree's build, any cached strongSwan build, or build it
IMG="${VPNCONC_IMAGE_DIR:-}"
if [ -z "$IMG" ]; then
  IMG=$("$IROOT/build-image.sh" --variant strongswan --print-dir 2>/dev/null | tail -1)
  if [ ! -f "$IMG/rootfs.ext4" ]; then
    # The server only needs strongSwan + xl2tpd + pppd: any finished build does.
    IMG=$(ls -d "${VPNCONC_IMAGE_CACHE:-/var/cache/vpnconc-interop}"/strongswan-*/ 2>/dev/null |
          while read -r d; do [ -f "$d/rootfs.ext4" ] && echo "${d%/}"; done | head -1)
  fi
  if [ -z "$IMG" ]; then
    vit_log "building the guest image (first use, ~10 min)"
    IMG=$("$IROOT/build-image.sh" --variant strongswan 2> "$OUT/build-image.log" | tail -1)
  fi
fi
[ -f "$IMG/rootfs.ext4" ] || { echo "FAIL: no strongSwan guest image (see $OUT/build-image.log)"; FAILEDN=$expected; finish; }
vit_log "image $IMG; logs in $OUT"

# ---- parameters: the same as the interop scenarios (seed 004) ------------------
SERVER_IP=198.18.0.1
PSK=secret123 PPP_USER=user-01 PPP_PASS=password123
# shellcheck disable=SC2034  # read by vit_render through ${!name}
POOL_START=192.168.0.1 POOL_END=192.168.0.31 LNS_LOCAL_IP=192.168.0.254
LAN_HOST=192.168.0.100
CLIENT_NET_BASE=198.18.0.   # client i: 198.18.0.(10+i); negative control .9

# ---- topology -------------------------------------------------------------------
#   ns wan: br-wan (198.18.0.0/24), br-lan (192.168.0.0/24), QEMU, taps
#   server guest: eth0 198.18.0.1 on br-wan, eth1 192.168.0.254 on br-lan
#   ns cli: cli0 on br-wan with 198.18.0.10.. (one address per client) + .9
#   ns lan: lan0 192.168.0.100 on br-lan (ping target)
WAN=$(vit_nsname wan); LAN=$(vit_nsname lan); CLI=$(vit_nsname cli)
vit_ns wan && vit_ns lan && vit_ns cli || { echo "FAIL: netns setup"; FAILEDN=$expected; finish; }
vit_bridge "$WAN" br-wan && vit_bridge "$WAN" br-lan &&
vit_veth "$WAN" lanp "$LAN" lan0 br-lan &&
vit_veth "$WAN" clip "$CLI" cli0 br-wan || { echo "FAIL: links"; FAILEDN=$expected; finish; }
ip -n "$LAN" addr add "$LAN_HOST/24" dev lan0
SOURCES=""
for i in $(seq 0 $((N - 1))); do
  a="${CLIENT_NET_BASE}$((10 + i))"
  ip -n "$CLI" addr add "$a/24" dev cli0
  SOURCES="${SOURCES:+$SOURCES,}$a"
done
ip -n "$CLI" addr add "${CLIENT_NET_BASE}9/24" dev cli0

vit_tap "$WAN" "vit${VIT_RUNID}s0" br-wan && vit_tap "$WAN" "vit${VIT_RUNID}s1" br-lan ||
  { echo "FAIL: taps"; FAILEDN=$expected; finish; }
SHARE="$OUT/server-share"
mkdir -p "$SHARE/out"
cp "$IROOT/guest/guest-main.sh" "$SHARE/"; chmod +x "$SHARE/guest-main.sh"
IPSEC_CONN=vpnconc-lns
vit_render "$IROOT/guest/server/etc" "$SHARE/etc" IPSEC_CONN PSK PPP_USER PPP_PASS POOL_START POOL_END LNS_LOCAL_IP ||
  { echo "FAIL: render"; FAILEDN=$expected; finish; }
cp -r "$IROOT/guest/common/etc/." "$SHARE/etc/"
cat > "$SHARE/guest.env" <<EOF
ROLE=server
GUEST_NAME=ref-lns
GUEST_ADDRS="$SERVER_IP/24 $LNS_LOCAL_IP/24"
GUEST_GW=""
GUEST_FORWARD=1
IKE_DAEMON=strongswan
IPSEC_CONN=$IPSEC_CONN
EOF
t0=$(date +%s)
vit_guest_start server "$WAN" "$IMG" "$SHARE" "$OUT" \
  "vit${VIT_RUNID}s0:52:54:00:${VIT_RUNID:0:2}:03:00" "vit${VIT_RUNID}s1:52:54:00:${VIT_RUNID:0:2}:03:01"
SPID=$VIT_LAST_PID
if ! vit_wait_serial "$OUT/server.console" '^VPNCONC-READY' 300 "$SPID" >/dev/null; then
  echo "FAIL: reference server did not become ready (see $OUT/server.console)"
  FAILEDN=$expected; finish
fi
vit_log "reference server ready after $(( $(date +%s) - t0 ))s"

# ---- the simulated clients -------------------------------------------------------
# Rate 2/s: under TCG the guest's charon does each MODP2048 DH in tens of ms.
# --traffic-delay: pppd sets up its ppp interface and proxy ARP only after it
# acked IPCP (ip-pre-up/ip-up scripts), seconds later under TCG.
ip netns exec "$CLI" timeout 240 "$BIN" --server "$SERVER_IP" --clients "$N" --rate 2/s \
  --source "$SOURCES" --psk "$PSK" --user "$PPP_USER" --password "$PPP_PASS" \
  --ping "$LAN_HOST" --count 5 --interval 200 --traffic-delay 5 --reply-wait 5 --timeout 90 --json "$OUT/clientsim.json" \
  > "$OUT/clientsim.out" 2> "$OUT/clientsim.err"
rc=$?
cat "$OUT/clientsim.out"
vit_log "vpn-clientsim exit $rc after $(( $(date +%s) - t0 ))s"

neg_line=""
if [ "$NEG" = 1 ]; then
  ip netns exec "$CLI" timeout 120 "$BIN" --server "$SERVER_IP" --clients 1 \
    --source "${CLIENT_NET_BASE}9" --psk "not-$PSK" --user "$PPP_USER" --password "$PPP_PASS" \
    --timeout 25 > "$OUT/clientsim-neg.out" 2> "$OUT/clientsim-neg.err"
  neg_rc=$?
  neg_line=$(grep '^client 0 ' "$OUT/clientsim-neg.out")
fi

# ---- the server's view --------------------------------------------------------------
sleep 2  # let the DELETEs and pppd's log lines land
touch "$SHARE/dump-request"
vit_wait_serial "$OUT/server.console" '^VPNCONC-DUMPED' 60 "$SPID" >/dev/null
sres=$(grep -a '^VPNCONC-RESULT role=server' "$OUT/server.console" | tail -1 | tr -d '\r')
ppplog="$SHARE/out/pppd.log"
charonlog="$SHARE/out/charon.log"

for i in $(seq 0 $((N - 1))); do
  line=$(grep "^client $i " "$OUT/clientsim.out")
  errs=()
  case "$line" in *" ok addr="*) ;; *) errs+=("clientsim: ${line:-no result line}") ;; esac
  addr=$(echo "$line" | sed -n 's/.* addr=\([0-9.]*\).*/\1/p')
  case "$line" in *" traffic 5/5 "*) ;; *) errs+=("pings not all answered") ;; esac
  if [ -n "$addr" ]; then
    case "$addr" in 192.168.0.[1-9]|192.168.0.[12][0-9]|192.168.0.3[01]) ;; *) errs+=("addr $addr not in the pool") ;; esac
    # Several pppd processes share the log file: lines may run together.
    grep -qE "remote IP address ${addr//./\\.}([^0-9]|\$)" "$ppplog" 2>/dev/null ||
      errs+=("server pppd log has no 'remote IP address $addr'")
  fi
  if [ ${#errs[@]} = 0 ]; then
    echo "PASS client $i: $line"; PASSED=$((PASSED + 1))
  else
    echo "FAIL client $i: $(printf '%s; ' "${errs[@]}")"; FAILEDN=$((FAILEDN + 1))
  fi
done

if [ "$NEG" = 1 ]; then
  errs=()
  [ "$neg_rc" = 1 ] || errs+=("wrong-PSK run exit $neg_rc (want 1)")
  case "$neg_line" in *"FAIL in ike"*) ;; *) errs+=("wrong-PSK client: ${neg_line:-no line}") ;; esac
  # Exactly one CHILD_SA per good client: none for the wrong PSK.
  children=$(grep -c 'CHILD_SA .*established' "$charonlog" 2>/dev/null)
  [ "${children:-0}" -le "$N" ] || errs+=("server established $children CHILD_SAs for $N good clients")
  if [ ${#errs[@]} = 0 ]; then
    echo "PASS negative control (wrong PSK): $neg_line"; PASSED=$((PASSED + 1))
  else
    echo "FAIL negative control: $(printf '%s; ' "${errs[@]}")"; FAILEDN=$((FAILEDN + 1))
  fi
fi

left=$(vit_field "$sres" xfrm_states)
if [ "${left:-x}" != 0 ]; then
  echo "FAIL teardown: server still holds ${left:-?} ESP SAs after the clients left ($sres)"
  FAILEDN=$((FAILEDN + 1))
fi
grep '^summary:' "$OUT/clientsim.out"
vit_log "logs in $OUT (server: $SHARE/out)"
vit_cleanup
finish
