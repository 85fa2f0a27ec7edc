#!/bin/bash
# Runs inside every interop guest (exec'd by /sbin/vpnconc-init as PID 1).
# The host puts this file, guest.env and a rendered etc/ tree into the 9p
# share mounted at /mnt/cfg; everything the guest produces goes to
# /mnt/cfg/out (visible on the host while the guest runs).
#
# Serial protocol (host greps these; one line each, key=value fields):
#   VPNCONC-STAGE <name> uptime=<s>          progress, for timing
#   VPNCONC-RESULT <key>=<value> ...         facts the host checks
#   VPNCONC-READY role=server                server: IKE/L2TP daemons listening
#   VPNCONC-DONE status=pass|fail            client: finished, about to power off
set -u
CFG=/mnt/cfg
OUT=$CFG/out
mkdir -p "$OUT"
exec >>"$OUT/guest.log" 2>&1
# shellcheck disable=SC1091
. "$CFG/guest.env"

SERIAL=/dev/ttyS0
say() { echo "VPNCONC-$*" > "$SERIAL"; echo "VPNCONC-$*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
stage() { say "STAGE $1 uptime=$(uptime_s)"; }
poweroff_now() { sync; echo o > /proc/sysrq-trigger; sleep 10; }
# Monotonic-ish seconds with centiseconds, from /proc/uptime.
now() { uptime_s; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }

FAILED=0
fail() { say "RESULT error=$1"; FAILED=1; }

set -x
stage guest-main

# ---- kernel modules (no udev in the image: load what we use) -------------
for m in virtio_net virtio_rng af_packet xfrm_user xfrm_algo esp4 ah4 \
         xfrm4_tunnel tunnel4 af_key ppp_generic ppp_async ppp_synctty \
         l2tp_core l2tp_netlink l2tp_ppp pppox slhc; do
  modprobe -q "$m" || true
done

# ---- networking ------------------------------------------------------------
ip link set lo up
hostname "$GUEST_NAME"
echo "127.0.0.1 localhost $GUEST_NAME" > /etc/hosts
i=0
for addr in $GUEST_ADDRS; do
  ip link set "eth$i" up
  ip addr add "$addr" dev "eth$i"
  i=$((i+1))
done
[ -n "${GUEST_GW:-}" ] && ip route add default via "$GUEST_GW"
sysctl -qw net.ipv6.conf.all.disable_ipv6=1
sysctl -qw net.ipv4.ip_forward="${GUEST_FORWARD:-0}"

# ---- configuration rendered by the host -------------------------------------
cp -a "$CFG/etc/." /etc/
chmod 600 /etc/ipsec.secrets /etc/ppp/chap-secrets 2>/dev/null || true
mkdir -p /run/xl2tpd /var/run/xl2tpd /run/pluto

stage booted

start_xl2tpd() {
  xl2tpd -D -c /etc/xl2tpd/xl2tpd.conf -p /run/xl2tpd.pid \
    -C /run/xl2tpd/l2tp-control > "$OUT/xl2tpd.log" 2>&1 &
  echo $! > /run/xl2tpd.bgpid
}

start_ike() {
  case "$IKE_DAEMON" in
    strongswan)
      ipsec start > "$OUT/ipsec-start.log" 2>&1
      for _ in $(seq 1 100); do [ -S /run/charon.ctl ] && break; sleep 0.2; done
      # Config loaded by starter asynchronously: wait until our conn shows.
      for _ in $(seq 1 50); do ipsec statusall 2>/dev/null | grep -q "$IPSEC_CONN" && break; sleep 0.2; done
      ;;
    libreswan)
      [ -e /var/lib/ipsec/nss/cert9.db ] || ipsec initnss > "$OUT/ipsec-start.log" 2>&1
      ipsec pluto --config /etc/ipsec.conf >> "$OUT/ipsec-start.log" 2>&1
      for _ in $(seq 1 100); do ipsec whack --status >/dev/null 2>&1 && break; sleep 0.2; done
      ipsec auto --add "$IPSEC_CONN" >> "$OUT/ipsec-start.log" 2>&1
      ipsec auto --rereadsecrets >> "$OUT/ipsec-start.log" 2>&1
      ;;
  esac
}

dump_state() {
  local tag="$1"
  {
    echo "### $tag at uptime $(uptime_s)"
    case "$IKE_DAEMON" in
      strongswan) ipsec statusall ;;
      libreswan) ipsec whack --trafficstatus; ipsec whack --status ;;
    esac
    ip -s xfrm state; ip xfrm policy
    ip -d addr; ip route; ip -s link
    cat /etc/ppp/resolv.conf 2>/dev/null
  } > "$OUT/state-$tag.txt" 2>&1
}

# =============================== server ======================================
if [ "$ROLE" = server ]; then
  start_ike
  start_xl2tpd
  stage daemons-started
  say "READY role=server"
  # Serve until the host kills us; answer dump requests (bounded: the host
  # always kills the guest at the scenario deadline).
  n=0
  while [ $n -lt 3600 ]; do
    if [ -e "$CFG/dump-request" ]; then
      rm -f "$CFG/dump-request"
      dump_state server
      sa=$(ip xfrm state | grep -c '^src')
      # "N: pppX inet LOCAL peer PEER/32 ..." -> the client's (peer) address
      ppp=$(ip -o -4 addr show | awk '$2 ~ /^ppp/ {print $6}' | tr '\n' ',')
      # UDP encapsulation ports of the SAs ("sport:dport,..."): shows what
      # the NAT did to the client's 4500.
      encap=$(ip xfrm state | sed -n 's/.*encap type espinudp sport \([0-9]*\) dport \([0-9]*\).*/\1:\2/p' | paste -sd, -)
      say "RESULT role=server xfrm_states=$sa ppp_peers=${ppp%,} encap=${encap:-none}"
      say "DUMPED role=server"
    fi
    sleep 0.5; n=$((n+1))
  done
  poweroff_now
fi

# =============================== client ======================================
# Wait for the host's go-ahead (it writes $CFG/go once the server side is
# ready), so connect timings measure the protocol, not the server's boot.
for _ in $(seq 1 "${GO_TIMEOUT:-240}"); do [ -e "$CFG/go" ] && break; sleep 1; done
[ -e "$CFG/go" ] || { fail no-go-from-host; say "DONE status=fail"; poweroff_now; }
stage go

# ---- phase 1+2: IPsec transport SA for udp/1701 ------------------------------
t0=$(now)
start_ike
stage ike-daemon-ready
t1=$(now)
case "$IKE_DAEMON" in
  strongswan) timeout "${IPSEC_TIMEOUT:-60}" ipsec up "$IPSEC_CONN" > "$OUT/ipsec-up.log" 2>&1 ;;
  libreswan) timeout "${IPSEC_TIMEOUT:-60}" ipsec auto --up "$IPSEC_CONN" > "$OUT/ipsec-up.log" 2>&1 ;;
esac
rc=$?
t_ipsec=$(elapsed "$t1")
ipsec_ok=0
ike_prop=none; esp_prop=none; natt=no
xfrm=$(ip xfrm state 2>&1)
# Both transport-mode ESP SAs installed in the kernel is the daemon-neutral
# proof; "espinudp" encapsulation means NAT-T (RFC 3948) is in use.
nsa=$(echo "$xfrm" | grep -c 'proto esp .*mode transport')
echo "$xfrm" | grep -q 'encap type espinudp' && natt=yes
if [ "$IKE_DAEMON" = strongswan ]; then
  st=$(ipsec statusall "$IPSEC_CONN" 2>&1)
  echo "$st" > "$OUT/statusall-after-up.txt"
  if echo "$st" | grep -q 'ESTABLISHED' && echo "$st" | grep -q 'INSTALLED, TRANSPORT' && [ "$nsa" -ge 2 ]; then ipsec_ok=1; fi
  ike_prop=$(echo "$st" | sed -n 's/.*IKE proposal: *\([^ ]*\).*/\1/p' | head -1)
  esp_prop=$(echo "$st" | sed -n 's/.*{[0-9]*}: *\([A-Z0-9_/]*\), [0-9]* bytes_i.*/\1/p' | head -1)
else
  st=$(ipsec whack --status 2>&1)
  echo "$st" > "$OUT/statusall-after-up.txt"
  up=$(cat "$OUT/ipsec-up.log")
  # libreswan 4.10 `ipsec auto --up` prints
  #   IKE SA established {auth=PRESHARED_KEY cipher=AES_CBC_256 integ=HMAC_SHA1 group=MODP2048}
  #   IPsec SA established transport mode {ESP=>0x.. <0x.. xfrm=AES_CBC_128-HMAC_SHA1_96 ...}
  # -> strongSwan notation, so the host checks one expectation for every
  # client (IKEv1: PRF = the negotiated hash; SHA1 integrity is 96-bit).
  if echo "$up" | grep -q 'IKE SA established' && echo "$up" | grep -q 'IPsec SA established transport mode' && [ "$nsa" -ge 2 ]; then ipsec_ok=1; fi
  ike_prop=$(echo "$up" | sed -n 's/.*IKE SA established {auth=[A-Z_]* cipher=\([A-Z0-9_]*\) integ=HMAC_\([A-Z0-9]*\) group=\([A-Z]*\)\([0-9]*\)}.*/\1\/HMAC_\2_96\/PRF_HMAC_\2\/\3_\4/p' | head -1)
  esp_prop=$(echo "$up" | sed -n 's/.*IPsec SA established transport mode {.*xfrm=\([A-Z0-9_]*\)-\([A-Z0-9_]*\).*/\1\/\2/p' | head -1)
fi
say "RESULT ipsec=$([ $ipsec_ok = 1 ] && echo ok || echo fail) rc=$rc t_ipsec=$t_ipsec ike=${ike_prop:-none} esp=${esp_prop:-none} natt=$natt"
if [ $ipsec_ok != 1 ]; then
  fail ipsec-not-established
  dump_state client; say "DONE status=fail"; poweroff_now
fi
stage ipsec-up

# ---- L2TP + PPP -----------------------------------------------------------------
t2=$(now)
start_xl2tpd
pppif=""; pppaddr=""
for _ in $(seq 1 $(( ${PPP_TIMEOUT:-45} * 5 ))); do
  line=$(ip -o -4 addr show 2>/dev/null | awk '$2 ~ /^ppp/ {print $2, $4, $6; exit}')
  if [ -n "$line" ]; then set -- $line; pppif=$1; pppaddr=$2; ppppeer=${3%/*}; break; fi
  sleep 0.2
done
t_ppp=$(elapsed "$t2")
if [ -z "$pppif" ]; then
  fail ppp-no-address
  dump_state client; say "RESULT ppp=fail t_ppp=$t_ppp"; say "DONE status=fail"; poweroff_now
fi
pppmtu=$(cat "/sys/class/net/$pppif/mtu")
# pppd writes ms-dns1 and ms-dns2; report each distinct server once.
dns=$(awk '/^nameserver/ && !seen[$2]++ {print $2}' /etc/ppp/resolv.conf 2>/dev/null | paste -sd, -)
say "RESULT ppp=ok if=$pppif addr=${pppaddr%/*} peer=$ppppeer mtu=$pppmtu dns=${dns:-none} t_ppp=$t_ppp t_connect=$(elapsed "$t0")"
stage ppp-up

# Windows with "use default gateway on remote network" unchecked (seed 004)
# adds the classful route of the assigned address over the VPN; do the same.
ip route add "$LAN_NET" dev "$pppif" 2>/dev/null || true

# ---- reach the LAN host -------------------------------------------------------
ping -c "${PING_COUNT:-5}" -i 0.5 -W 3 "$LAN_HOST" > "$OUT/ping.txt" 2>&1
rx=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$OUT/ping.txt")
rtt=$(sed -n 's/^rtt .* = [0-9.]*\/\([0-9.]*\)\/.*/\1/p' "$OUT/ping.txt")
# Full-size packet with DF: proves the 1400 MTU path end to end.
big=$(( pppmtu - 28 ))
if ping -c 2 -i 0.5 -W 3 -M "do" -s "$big" "$LAN_HOST" > "$OUT/ping-mtu.txt" 2>&1; then mtuok=ok; else mtuok=fail; fi
say "RESULT ping=${rx:-0}/${PING_COUNT:-5} rtt_ms=${rtt:-none} ping_mtu_${big}=$mtuok"
[ "${rx:-0}" = "${PING_COUNT:-5}" ] || fail ping-loss
[ "$mtuok" = ok ] || fail ping-mtu

# ---- throughput -----------------------------------------------------------------
iperf_rate() { awk '/receiver/ {for (i=1;i<=NF;i++) if ($i ~ /bits\/sec/) {v=$(i-1); u=$i}} END {if (v=="") print "none"; else if (u ~ /^G/) print v*1000; else if (u ~ /^K/) print v/1000; else print v}' "$1"; }
if [ "${IPERF_SECS:-0}" -gt 0 ]; then
  timeout $(( IPERF_SECS + 20 )) iperf3 -c "$LAN_HOST" -t "$IPERF_SECS" -f m > "$OUT/iperf-up.txt" 2>&1
  up=$(iperf_rate "$OUT/iperf-up.txt")
  timeout $(( IPERF_SECS + 20 )) iperf3 -c "$LAN_HOST" -t "$IPERF_SECS" -f m -R > "$OUT/iperf-down.txt" 2>&1
  down=$(iperf_rate "$OUT/iperf-down.txt")
  say "RESULT iperf_up_mbps=$up iperf_down_mbps=$down"
  [ "$up" != none ] || fail iperf-up
  [ "$down" != none ] || fail iperf-down
fi

# ---- prove the traffic went through ESP ------------------------------------------
# Per-SA packet counters from the kernel (stats of the transport SAs).
ip -s xfrm state > "$OUT/xfrm-state.txt" 2>&1
esp_pkts=$(awk '/lifetime current:/ {getline; n=split($0,f," "); for (i=1;i<=n;i++) if (f[i] ~ /^[0-9]+\(packets\)$/) {sub(/\(packets\)/,"",f[i]); s+=f[i]}} END {print s+0}' "$OUT/xfrm-state.txt")
say "RESULT esp_packets=$esp_pkts"
[ "${esp_pkts:-0}" -gt 10 ] || fail no-esp-traffic

dump_state client
say "DONE status=$([ $FAILED = 0 ] && echo pass || echo fail)"
poweroff_now
