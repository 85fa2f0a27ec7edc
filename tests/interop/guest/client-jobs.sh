#!/bin/bash
# Client role of an interop guest: boots once, then runs any number of jobs
# the host hands it, so one booted guest serves every scenario (a TCG boot
# costs 30-60 s; reconfiguring costs nothing).
#
# Exec'd by guest-main.sh (ROLE=client). The 9p share /mnt/cfg holds:
#   guest.env                 GUEST_NAME, IKE_DAEMON (strongswan|libreswan)
#   jobs/N/job.env            one job (N = 1, 2, ...), see "job.env" below
#   jobs/N/etc/               the client's /etc files for that job (rendered
#                             by the host: ipsec.conf, xl2tpd.conf, ppp ...)
#   jobs/N/go                 created by the host last: run job N
#   jobs/N/traffic            (SYNC=1) host's go-ahead for the traffic phase
#   jobs/N/release            (HOLD=1) host has looked at the server: tear down
#   poweroff                  host is done with this guest
# The guest writes out/jobN/ (logs, captures) and these serial lines:
#   VPNCONC-READY role=client                 waiting for job 1
#   VPNCONC-RESULT job=N key=value ...        facts the host checks
#   VPNCONC-PPPUP job=N                       (SYNC=1) connected, waiting for traffic
#   VPNCONC-HOLD job=N                        (HOLD=1) still connected, waiting for release
#   VPNCONC-JOBDONE job=N status=pass|fail    torn down, ready for job N+1
#
# job.env:
#   MODE        connect (IPsec, then L2TP/PPP) | cleartext (xl2tpd alone, no IPsec)
#   EXPECT      up | ipsec-fail | ppp-fail | no-ppp: what the host expects;
#               the guest only shortens its waits for the failing ones
#   NIC ADDR GW which interface carries the job (eth0 = public segment,
#               eth1 = behind the NAT), its address/prefix and default gateway
#   IPSEC_TIMEOUT PPP_TIMEOUT  caps (seconds)
#   PING_COUNT  pings to LAN_HOST (0: none); PING_MTU=1: a full-size DF ping
#   IPERF_SECS  iperf3 up then down (-R) for that long (0: none)
#   IPERF_BIDIR_SECS  one iperf3 --bidir run with 1 s intervals (rekey test)
#   IPERF_PORT  iperf3 server port on LAN_HOST
#   PPP_CAPTURE=1  tcpdump on the ppp interface during the traffic phase
#   SYNC=1 HOLD=1  the barriers above
set -u
CFG=/mnt/cfg
OUT=$CFG/out
# shellcheck disable=SC1091
. "$CFG/guest.env"
SERIAL=/dev/ttyS0
say() { echo "VPNCONC-$*" > "$SERIAL"; echo "VPNCONC-$*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
now() { uptime_s; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }
poweroff_now() { sync; echo o > /proc/sysrq-trigger; sleep 10; }

# wait_file PATH SECONDS: 0 when PATH exists (bounded), 1 on timeout.
# (Every wait here is by the clock, not by iteration counts: under TCG on a
# loaded host one iteration can take seconds. $EPOCHSECONDS, not $(date
# +%s): a fork costs ~0.1-0.3 s in a TCG guest.)
wait_file() {
  local dl=$(( $EPOCHSECONDS + $2 ))
  while [ "$EPOCHSECONDS" -lt "$dl" ]; do [ -e "$1" ] && return 0; sleep 0.2; done
  [ -e "$1" ]
}

ppp_iface() { ip -o -4 addr show 2>/dev/null | awk '$2 ~ /^ppp/ {print $2, $4, $6; exit}'; }

start_ike() {
  case "$IKE_DAEMON" in
    strongswan)
      ipsec start > "$JO/ipsec-start.log" 2>&1
      local dl=$(( $EPOCHSECONDS + 60 ))
      while [ "$EPOCHSECONDS" -lt "$dl" ] && [ ! -S /run/charon.ctl ]; do sleep 0.2; done
      # starter loads ipsec.conf asynchronously: wait until our conn shows.
      while [ "$EPOCHSECONDS" -lt "$dl" ] && ! ipsec statusall 2>/dev/null | grep -q "$IPSEC_CONN"; do sleep 0.2; done
      ;;
    libreswan)
      [ -e /var/lib/ipsec/nss/cert9.db ] || ipsec initnss > "$JO/ipsec-start.log" 2>&1
      ipsec pluto --config /etc/ipsec.conf >> "$JO/ipsec-start.log" 2>&1
      local dl=$(( $EPOCHSECONDS + 60 ))
      while [ "$EPOCHSECONDS" -lt "$dl" ] && ! ipsec whack --status >/dev/null 2>&1; do sleep 0.2; done
      ipsec auto --add "$IPSEC_CONN" >> "$JO/ipsec-start.log" 2>&1
      ipsec auto --rereadsecrets >> "$JO/ipsec-start.log" 2>&1
      ;;
  esac
}

ike_up() {
  case "$IKE_DAEMON" in
    strongswan) timeout "$IPSEC_TIMEOUT" ipsec up "$IPSEC_CONN" ;;
    libreswan) timeout "$IPSEC_TIMEOUT" ipsec auto --up "$IPSEC_CONN" ;;
  esac > "$JO/ipsec-up.log" 2>&1
}

start_xl2tpd() {
  xl2tpd -D -c /etc/xl2tpd/xl2tpd.conf -p /run/xl2tpd.pid \
    -C /run/xl2tpd/l2tp-control > "$JO/xl2tpd.log" 2>&1 &
  XL2TPD_PID=$!
}

dump_state() {
  {
    echo "### $1 at uptime $(uptime_s)"
    case "$IKE_DAEMON" in
      strongswan) ipsec statusall ;;
      libreswan) ipsec whack --trafficstatus; ipsec whack --status ;;
    esac
    ip -s xfrm state; ip xfrm policy
    ip -d addr; ip route; ip -s link
    cat /etc/ppp/resolv.conf 2>/dev/null
  } > "$JO/state-$1.txt" 2>&1
}

# Polite teardown, top down as Windows does it: pppd first (LCP
# Terminate-Request, which we must acknowledge), then xl2tpd (CDN/StopCCN),
# then the IPsec connection (IKE DELETEs); then make sure nothing of this
# job is left for the next one.
teardown() {
  local t0 dl; t0=$(now)
  if pidof pppd >/dev/null; then
    pkill -TERM -x pppd
    dl=$(( $EPOCHSECONDS + 10 ))
    while [ "$EPOCHSECONDS" -lt "$dl" ] && pidof pppd >/dev/null; do sleep 0.2; done
    pkill -KILL -x pppd 2>/dev/null
  fi
  if [ -n "${XL2TPD_PID:-}" ] && kill -0 "$XL2TPD_PID" 2>/dev/null; then
    kill -TERM "$XL2TPD_PID"
    dl=$(( $EPOCHSECONDS + 10 ))
    while [ "$EPOCHSECONDS" -lt "$dl" ] && kill -0 "$XL2TPD_PID" 2>/dev/null; do sleep 0.2; done
    kill -KILL "$XL2TPD_PID" 2>/dev/null
  fi
  XL2TPD_PID=""
  case "$IKE_DAEMON" in
    strongswan)
      if [ -S /run/charon.ctl ]; then
        timeout 15 ipsec down "$IPSEC_CONN" >> "$JO/ipsec-down.log" 2>&1
        timeout 15 ipsec stop >> "$JO/ipsec-down.log" 2>&1
      fi ;;
    libreswan)
      if ipsec whack --status >/dev/null 2>&1; then
        timeout 15 ipsec auto --down "$IPSEC_CONN" >> "$JO/ipsec-down.log" 2>&1
        timeout 15 ipsec whack --shutdown >> "$JO/ipsec-down.log" 2>&1
      fi ;;
  esac
  pkill -KILL -x charon 2>/dev/null; pkill -KILL -x pluto 2>/dev/null; pkill -KILL -x starter 2>/dev/null
  ip xfrm state flush; ip xfrm policy flush
  rm -f /run/charon.* /run/starter.* /run/pluto/pluto.* /run/xl2tpd.pid
  dl=$(( $EPOCHSECONDS + 10 ))
  while [ "$EPOCHSECONDS" -lt "$dl" ] && [ -n "$(ppp_iface)" ]; do sleep 0.2; done
  echo "$(elapsed "$t0")"
}

iperf_rate() { awk '/receiver/ {for (i=1;i<=NF;i++) if ($i ~ /bits\/sec/) {v=$(i-1); u=$i}} END {if (v=="") print "none"; else if (u ~ /^G/) print v*1000; else if (u ~ /^K/) print v/1000; else print v}' "$1"; }

# The traffic phase of a connected job: pings, iperf3, optional capture.
traffic() {
  local pppif="$1" rx rtt big mtuok up down
  ip route replace "$LAN_NET" dev "$pppif" 2>/dev/null
  local cap_pid=""
  if [ "${PPP_CAPTURE:-0}" = 1 ]; then
    tcpdump -i "$pppif" -n -U -s 96 -w "$JO/ppp.pcap" > "$JO/tcpdump.log" 2>&1 &
    cap_pid=$!
    sleep 1
  fi
  if [ "${PING_COUNT:-0}" -gt 0 ]; then
    ping -c "$PING_COUNT" -i 0.5 -W 3 "$LAN_HOST" > "$JO/ping.txt" 2>&1
    rx=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$JO/ping.txt")
    rtt=$(sed -n 's/^rtt .* = [0-9.]*\/\([0-9.]*\)\/.*/\1/p' "$JO/ping.txt")
    say "RESULT job=$JOB ping=${rx:-0}/$PING_COUNT rtt_ms=${rtt:-none}"
  fi
  if [ "${PING_MTU:-0}" = 1 ]; then
    # Full-size packet with DF: the 1400 MTU path end to end.
    big=$(( $(cat "/sys/class/net/$pppif/mtu") - 28 ))
    if ping -c 2 -i 0.5 -W 3 -M do -s "$big" "$LAN_HOST" > "$JO/ping-mtu.txt" 2>&1; then mtuok=ok; else mtuok=fail; fi
    say "RESULT job=$JOB ping_mtu=$mtuok ping_mtu_size=$big"
  fi
  if [ "${IPERF_SECS:-0}" -gt 0 ]; then
    timeout $(( IPERF_SECS + 30 )) iperf3 -c "$LAN_HOST" -p "${IPERF_PORT:-5201}" -t "$IPERF_SECS" -f m > "$JO/iperf-up.txt" 2>&1
    up=$(iperf_rate "$JO/iperf-up.txt")
    timeout $(( IPERF_SECS + 30 )) iperf3 -c "$LAN_HOST" -p "${IPERF_PORT:-5201}" -t "$IPERF_SECS" -f m -R > "$JO/iperf-down.txt" 2>&1
    down=$(iperf_rate "$JO/iperf-down.txt")
    say "RESULT job=$JOB iperf_up_mbps=$up iperf_down_mbps=$down"
  fi
  if [ "${IPERF_BIDIR_SECS:-0}" -gt 0 ]; then
    # One long run in both directions with per-second reports: the host
    # looks for a stalled second (rekeys happen during this run).
    # Wall clock (the one charon.log uses) around the run: the host checks
    # that the rekeys fell inside it.
    # The kernel's XFRM error counters before and after (RFC 4303 3.4
    # checks on the client: no SA for the SPI, ICV, replay): the host wants
    # every ESP frame we sent during the run to land on a live SA.
    local b0 brc; b0=$(date +%H:%M:%S)
    cat /proc/net/xfrm_stat > "$JO/xfrm-stat-before.txt" 2>&1
    timeout $(( IPERF_BIDIR_SECS + 60 )) iperf3 -c "$LAN_HOST" -p "${IPERF_PORT:-5201}" \
      -t "$IPERF_BIDIR_SECS" -i 1 -f m --bidir > "$JO/iperf-bidir.txt" 2>&1
    brc=$?
    cat /proc/net/xfrm_stat > "$JO/xfrm-stat-after.txt" 2>&1
    say "RESULT job=$JOB iperf_bidir_rc=$brc iperf_bidir_from=$b0 iperf_bidir_to=$(date +%H:%M:%S)"
  fi
  if [ -n "$cap_pid" ]; then
    sleep 1; kill -INT "$cap_pid"; wait "$cap_pid" 2>/dev/null
    tcpdump -r "$JO/ppp.pcap" -n > "$JO/ppp.txt" 2>/dev/null
    say "RESULT job=$JOB ppp_capture_pkts=$(wc -l < "$JO/ppp.txt")"
  fi
  ip -s xfrm state > "$JO/xfrm-state.txt" 2>&1
  local esp_pkts
  esp_pkts=$(awk '/lifetime current:/ {getline; n=split($0,f," "); for (i=1;i<=n;i++) if (f[i] ~ /^[0-9]+\(packets\)$/) {sub(/\(packets\)/,"",f[i]); s+=f[i]}} END {print s+0}' "$JO/xfrm-state.txt")
  say "RESULT job=$JOB esp_packets=$esp_pkts"
}

# The client's own view of its IPsec SA, daemon-neutral where possible: both
# transport-mode ESP SAs in the kernel, and the daemon's phase 1/2 suites in
# strongSwan notation (so the host checks one expectation for every client).
ipsec_view() {
  local xfrm nsa st up ok=0 ike=none esp=none natt=no
  xfrm=$(ip xfrm state 2>&1)
  nsa=$(echo "$xfrm" | grep -c 'proto esp .*mode transport')
  echo "$xfrm" | grep -q 'encap type espinudp' && natt=yes
  if [ "$IKE_DAEMON" = strongswan ]; then
    st=$(ipsec statusall "$IPSEC_CONN" 2>&1); echo "$st" > "$JO/statusall-after-up.txt"
    if echo "$st" | grep -q ESTABLISHED && echo "$st" | grep -q 'INSTALLED, TRANSPORT' && [ "$nsa" -ge 2 ]; then ok=1; fi
    ike=$(echo "$st" | sed -n 's/.*IKE proposal: *\([^ ]*\).*/\1/p' | head -1)
    esp=$(echo "$st" | sed -n 's/.*{[0-9]*}: *\([A-Z0-9_/]*\), [0-9]* bytes_i.*/\1/p' | head -1)
  else
    st=$(ipsec whack --status 2>&1); echo "$st" > "$JO/statusall-after-up.txt"
    up=$(cat "$JO/ipsec-up.log")
    # libreswan 4.10 prints "IKE SA established {auth=PRESHARED_KEY
    # cipher=AES_CBC_256 integ=HMAC_SHA1 group=MODP2048}" and "IPsec SA
    # established transport mode {ESP=>0x.. <0x.. xfrm=AES_CBC_128-HMAC_SHA1_96 ...}".
    if echo "$up" | grep -q 'IKE SA established' && echo "$up" | grep -q 'IPsec SA established transport mode' && [ "$nsa" -ge 2 ]; then ok=1; fi
    ike=$(echo "$up" | sed -n 's/.*IKE SA established {auth=[A-Z_]* cipher=\([A-Z0-9_]*\) integ=HMAC_\([A-Z0-9]*\) group=\([A-Z]*\)\([0-9]*\)}.*/\1\/HMAC_\2_96\/PRF_HMAC_\2\/\3_\4/p' | head -1)
    esp=$(echo "$up" | sed -n 's/.*IPsec SA established transport mode {.*xfrm=\([A-Z0-9_]*\)-\([A-Z0-9_]*\).*/\1\/\2/p' | head -1)
  fi
  IPSEC_OK=$ok
  say "RESULT job=$JOB ipsec=$([ $ok = 1 ] && echo ok || echo fail) t_ipsec=$T_IPSEC ike=${ike:-none} esp=${esp:-none} natt=$natt esp_sas=$nsa"
}

run_job() {
  JOB=$1
  local J=$CFG/jobs/$JOB
  JO=$OUT/job$JOB; mkdir -p "$JO"
  (
  PS4='+ ${EPOCHREALTIME} '
  set -x
  # shellcheck disable=SC1090,SC1091
  . "$J/job.env"
  : "${IPSEC_TIMEOUT:=60}" "${PPP_TIMEOUT:=45}"
  # Network: only the job's interface carries an address and the default
  # route (%defaultroute picks it).
  for i in eth0 eth1; do ip addr flush dev "$i" 2>/dev/null; done
  ip route flush table main 2>/dev/null
  ip addr add "$ADDR" dev "$NIC"
  ip route add default via "$GW"
  cp -a "$J/etc/." /etc/
  chmod 600 /etc/ipsec.secrets /etc/ppp/chap-secrets 2>/dev/null
  mkdir -p /run/xl2tpd /run/pluto
  FAILED=0
  local t0 t2 line pppif="" pppaddr="" ppppeer=""
  t0=$(now)
  if [ "$MODE" = connect ]; then
    start_ike
    local t1; t1=$(now)
    ike_up; local rc=$?
    T_IPSEC=$(elapsed "$t1")
    ipsec_view
    say "RESULT job=$JOB ipsec_rc=$rc"
    [ "$IPSEC_OK" = 1 ] || FAILED=1
  fi
  if [ "$FAILED" = 0 ]; then
    t2=$(now)
    start_xl2tpd
    local dl=$(( $EPOCHSECONDS + PPP_TIMEOUT ))
    while [ "$EPOCHSECONDS" -lt "$dl" ]; do
      line=$(ppp_iface)
      if [ -n "$line" ]; then set -- $line; pppif=$1; pppaddr=${2%/*}; ppppeer=${3%/*}; break; fi
      # pppd gave up (e.g. authentication refused): no need to sit out the cap.
      if [ "$EXPECT" = ppp-fail ] && grep -q -E 'authentication failed|Connection terminated|Modem hangup' "$JO/pppd.log" 2>/dev/null; then break; fi
      sleep 0.2
    done
    if [ -z "$pppif" ]; then
      say "RESULT job=$JOB ppp=fail t_ppp=$(elapsed "$t2")"
      FAILED=1
    else
      local mtu dns
      mtu=$(cat "/sys/class/net/$pppif/mtu")
      dns=$(awk '/^nameserver/ && !seen[$2]++ {print $2}' /etc/ppp/resolv.conf 2>/dev/null | paste -sd, -)
      say "RESULT job=$JOB ppp=ok if=$pppif addr=$pppaddr peer=$ppppeer mtu=$mtu dns=${dns:-none} t_ppp=$(elapsed "$t2") t_connect=$(elapsed "$t0")"
      if [ "${SYNC:-0}" = 1 ]; then
        say "PPPUP job=$JOB"
        wait_file "$J/traffic" 300 || say "RESULT job=$JOB error=no-traffic-go"
      fi
      traffic "$pppif"
    fi
  fi
  # The state dump (~2 s of forks under TCG) runs while the host reads our
  # side; teardown waits for it.
  dump_state "job$JOB" &
  local dump_pid=$!
  if [ "${HOLD:-0}" = 1 ]; then
    say "HOLD job=$JOB"
    wait_file "$J/release" 300 || say "RESULT job=$JOB error=no-release"
  fi
  wait "$dump_pid"
  say "RESULT job=$JOB t_teardown=$(teardown)"
  dump_state "job$JOB-after"
  say "JOBDONE job=$JOB status=$([ $FAILED = 0 ] && echo pass || echo fail)"
  ) > "$JO/guest.log" 2>&1
}

# ---- boot-time setup (once) -------------------------------------------------------
for m in virtio_net virtio_rng af_packet xfrm_user xfrm_algo esp4 ah4 \
         xfrm4_tunnel tunnel4 af_key ppp_generic ppp_async ppp_synctty \
         l2tp_core l2tp_netlink l2tp_ppp pppox slhc; do
  modprobe -q "$m" || true
done
ip link set lo up
hostname "$GUEST_NAME"
echo "127.0.0.1 localhost $GUEST_NAME" > /etc/hosts
for i in eth0 eth1; do ip link set "$i" up 2>/dev/null; done
sysctl -qw net.ipv6.conf.all.disable_ipv6=1
sysctl -qw net.ipv4.ip_forward=0
say "STAGE booted uptime=$(uptime_s)"
say "READY role=client"

# ---- job loop (bounded: the host kills the guest at its own deadline anyway) ---------
n=1
deadline=$(( $EPOCHSECONDS + ${GUEST_LIFETIME:-3600} ))
while [ "$EPOCHSECONDS" -lt "$deadline" ]; do
  [ -e "$CFG/poweroff" ] && break
  if [ -e "$CFG/jobs/$n/go" ]; then
    run_job "$n"
    n=$((n+1))
    continue
  fi
  sleep 0.3
done
say "STAGE poweroff uptime=$(uptime_s)"
poweroff_now
