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
# (ROLE=client: see client-jobs.sh, which this script execs.)
set -u
CFG=/mnt/cfg
OUT=$CFG/out
mkdir -p "$OUT"
exec >>"$OUT/guest.log" 2>&1
# shellcheck disable=SC1091
. "$CFG/guest.env"
# Clients run jobs handed over by the host, many per boot (client-jobs.sh).
[ "$ROLE" = client ] && exec /bin/bash "$CFG/client-jobs.sh"

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
