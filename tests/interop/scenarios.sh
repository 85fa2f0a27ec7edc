# shellcheck shell=bash
# The interop scenarios and their checks (sourced by run.sh, which provides
# the topology, the guests and SC_DIR / SC_ERRS / SC_DETAIL per scenario).
#
# Three views are checked in every scenario:
#   client  the guest's RESULT lines (its own SA listing, ppp address, ping,
#           iperf3, kernel ESP counters, optional capture on its ppp link)
#   ours    vpnctl --json show sessions / sa / tunnels / counters, read while
#           the client holds its connection and again after it left
#   wire    tcpdump on the concentrator's WAN link (in the switch namespace):
#           no UDP 1701 outside ESP

err() { echo "$*" >> "$SC_ERRS"; }

# ---- the concentrator, one instance per scenario ---------------------------------------
CONC_LOG=""; CAP_PID=""; CONC_IDX=0
conc_up() {
  CONC_IDX=$((CONC_IDX+1))
  CONC_LOG="$SC_DIR/concentrator"
  local rc=0
  CONC_SHM="vit${VIT_RUNID}c${CONC_IDX}" target_concentrator_start "$CONC" cwan0 clan0 "$CONC_LOG" || rc=$?
  [ $rc = 0 ] || { err "concentrator failed to start (rc=$rc), see $CONC_LOG"; return 1; }
  # The WAN side as a passive observer sees it (the bridge port of cwan0).
  ip netns exec "$WAN" tcpdump -i cwanp -n -U -s 128 -w "$SC_DIR/wan.pcap" 'not arp' \
    > "$SC_DIR/wan-tcpdump.log" 2>&1 &
  CAP_PID=$!; vit_track_pid "$CAP_PID"
  sleep 0.5
}
conc_down() {
  [ -n "$CONC_LOG" ] || return 0
  target_concentrator_stop "$CONC_LOG" || true
  if [ -n "$CAP_PID" ]; then vit_kill_pid "$CAP_PID"; vit_untrack_pid "$CAP_PID"; CAP_PID=""; fi
  target_concentrator_kill "$CONC_LOG"
  CONC_LOG=""
}

VPNCTL() { "${VPNCONC_BUILD:-$VIT_HERE/../../build}/controlplane/ctl/vpnctl" "$@"; }
# ours TAG: our view as JSON files in SC_DIR (ours-TAG-{sessions,sa,tunnels,counters}.json)
ours() {
  local tag="$1" what shm
  shm=$(sed -n 's/^shm_name = "\(.*\)"/\1/p' "$CONC_LOG/vpn.toml")
  for what in sessions sa tunnels; do
    VPNCTL --socket "$CONC_LOG/control.sock" --json show "$what" > "$SC_DIR/ours-$tag-$what.json" 2>&1
  done
  VPNCTL --shm "$shm" --json show counters > "$SC_DIR/ours-$tag-counters.json" 2>&1
}
# jqf TAG WHAT FILTER: jq over one of those files ("ERR" when it is not JSON)
jqf() { jq -r "$3" "$SC_DIR/ours-$1-$2.json" 2>/dev/null || echo ERR; }
counter() { jqf "$1" counters ".reasons.$2 // 0"; }

# ours_empty TAG: after the client left, nothing of it may remain: no
# session, no tunnel, no IKE or ESP SA (polled: DELETE/StopCCN are async).
ours_empty() {
  local tag="$1" i s a t
  for i in $(seq 1 30); do
    ours "$tag"
    s=$(jqf "$tag" sessions length); a=$(jqf "$tag" sa length); t=$(jqf "$tag" tunnels length)
    [ "$s$a$t" = 000 ] && return 0
    sleep 0.5
  done
  err "$tag: left behind sessions=$s ike_sas=$a tunnels=$t (see ours-$tag-*.json)"
  return 1
}

# ---- jobs on the guests ----------------------------------------------------------------
# job_submit G [KEY=VALUE...]: hand guest G its next job (see client-jobs.sh);
# sets JN to the job number. Defaults: a seed 004 connection that pings,
# runs iperf3 both ways and holds until released.
job_submit() {
  local g="$1"; shift
  local MODE=connect EXPECT=up TOPO=direct PSK="$VIT_PSK" PPP_USER="$VIT_PPP_USER" PPP_PASS="$VIT_PPP_PASS"
  local CLIENT_IKE="$CLIENT_IKE_DEFAULT" CLIENT_ESP="$CLIENT_ESP_DEFAULT"
  local CLIENT_IKE_LSW="$CLIENT_IKE_LSW_DEFAULT" CLIENT_ESP_LSW="$CLIENT_ESP_LSW_DEFAULT"
  local PING_COUNT=5 PING_MTU=1 IPERF_SECS="$IPERF_SECS" IPERF_BIDIR_SECS=0 IPERF_PORT=5201
  local PPP_CAPTURE=0 SYNC=0 HOLD=1 KEYINGTRIES=3 IPSEC_TIMEOUT=60 PPP_TIMEOUT=45
  local IKE_LIFETIME=28800s ESP_LIFETIME=3600s REKEY_MARGIN=540s REKEY_FUZZ=100%
  local RETRANSMIT_TRIES=5 RETRANSMIT_TIMEOUT=4.0 RETRANSMIT_BASE=1.8
  local kv
  for kv in "$@"; do local "${kv?}"; done
  JN=${G_NEXT[$g]}; G_NEXT[$g]=$((JN+1))
  local J="${G_SHARE[$g]}/jobs/$JN"
  mkdir -p "$J"
  local LOG_DIR="/mnt/cfg/out/job$JN" IPSEC_CONN=vpnconc-l2tp SERVER_IP="$VIT_SERVER_IP"
  local vars=(IPSEC_CONN SERVER_IP PSK PPP_USER PPP_PASS CLIENT_IKE CLIENT_ESP CLIENT_IKE_LSW
              CLIENT_ESP_LSW KEYINGTRIES IKE_LIFETIME ESP_LIFETIME REKEY_MARGIN REKEY_FUZZ LOG_DIR
              RETRANSMIT_TRIES RETRANSMIT_TIMEOUT RETRANSMIT_BASE)
  vit_render "$HERE/guest/client/etc" "$J/etc" "${vars[@]}" || return 1
  if [ "${G_IKE[$g]}" = libreswan ]; then
    rm -f "$J/etc/strongswan.conf"
    vit_render "$HERE/guest/client-libreswan/etc" "$J/etc" "${vars[@]}" || return 1
  fi
  local nic addr gw idx=${G_IDX[$g]}
  if [ "$TOPO" = direct ]; then nic=eth0 addr="198.18.0.$idx/24" gw=198.18.0.254
  else nic=eth1 addr="198.19.0.$idx/24" gw=198.19.0.1; fi
  cat > "$J/job.env" <<EOF
MODE=$MODE
EXPECT=$EXPECT
NIC=$nic
ADDR=$addr
GW=$gw
IPSEC_TIMEOUT=$IPSEC_TIMEOUT
PPP_TIMEOUT=$PPP_TIMEOUT
PING_COUNT=$PING_COUNT
PING_MTU=$PING_MTU
IPERF_SECS=$IPERF_SECS
IPERF_BIDIR_SECS=$IPERF_BIDIR_SECS
IPERF_PORT=$IPERF_PORT
PPP_CAPTURE=$PPP_CAPTURE
SYNC=$SYNC
HOLD=$HOLD
EOF
  touch "$J/go"
  echo "$g job $JN: $*" >> "$SC_DIR/jobs.txt"
}
# job_wait G N WHAT TIMEOUT: wait for "VPNCONC-WHAT job=N" (WHAT may be an
# alternation, e.g. "HOLD|JOBDONE"); prints the line.
job_wait() {
  vit_wait_serial "${G_CONSOLE[$1]}" "^VPNCONC-($3) job=$2([[:space:]]|\$)" "$4" "${G_PID[$1]}"
}
job_touch() { touch "${G_SHARE[$1]}/jobs/$2/$3"; }
job_res() { grep -a "^VPNCONC-RESULT job=$2 " "${G_CONSOLE[$1]}" | tr -d '\r'; }
job_out() { echo "${G_SHARE[$1]}/out/job$2"; }
# field "LINES" KEY
field() { vit_field "$1" "$2"; }

# job_finish G N: release a held job and wait until the guest tore it down.
job_finish() {
  job_touch "$1" "$2" release
  job_wait "$1" "$2" JOBDONE 120 >/dev/null || { err "guest $1 job $2 did not finish its teardown"; return 1; }
}

# ---- checks ----------------------------------------------------------------------------
in_pool() { case "$1" in 192.168.0.[1-9]|192.168.0.[12][0-9]|192.168.0.3[01]) return 0 ;; esac; return 1; }

# check_client_up RES TOPO [noiperf]: the client's own view of a good connection.
check_client_up() {
  local res="$1" topo="$2" what="${3:-}" v
  if [ "$(field "$res" ipsec)" != ok ]; then err "client: ipsec=$(field "$res" ipsec) rc=$(field "$res" ipsec_rc) after $(field "$res" t_ipsec)s"; return 1; fi
  if [ "$(field "$res" ppp)" != ok ]; then err "client: IPsec up but ppp=$(field "$res" ppp) after $(field "$res" t_ppp)s"; return 1; fi
  v=$(field "$res" ike); [ "$v" = "$EXPECT_IKE" ] || err "client: IKE $v (want $EXPECT_IKE)"
  v=$(field "$res" esp); [ "$v" = "$EXPECT_ESP" ] || err "client: ESP $v (want $EXPECT_ESP)"
  v=$(field "$res" natt)
  if [ "$topo" = direct ]; then [ "$v" = no ] || err "client: natt=$v without NAT"
  else [ "$v" = yes ] || err "client: natt=$v behind NAT (want ESP in UDP 4500)"; fi
  v=$(field "$res" addr); in_pool "$v" || err "client: ppp address $v not in the pool"
  v=$(field "$res" mtu); [ "$v" = 1400 ] || err "client: mtu $v (want 1400)"
  v=$(field "$res" dns); [ "$v" = "$VIT_LNS_LOCAL_IP" ] || err "client: dns $v (want $VIT_LNS_LOCAL_IP)"
  v=$(field "$res" ping); [ -z "$v" ] || [ "${v%/*}" = "${v#*/}" ] || err "client: ping $v"
  v=$(field "$res" ping_mtu); [ -z "$v" ] || [ "$v" = ok ] || err "client: full-size DF ping (1372 B) failed"
  if [ "$what" != noiperf ] && [ "$IPERF_SECS" -gt 0 ]; then
    v=$(field "$res" iperf_up_mbps); [ -n "$v" ] && [ "$v" != none ] || err "client: iperf3 up failed"
    v=$(field "$res" iperf_down_mbps); [ -n "$v" ] && [ "$v" != none ] || err "client: iperf3 down failed"
  fi
  v=$(field "$res" esp_packets); [ "${v:-0}" -gt 10 ] 2>/dev/null || err "client: only ${v:-0} packets on its ESP SAs"
}

# check_ours_up TAG N [reauth]: N sessions of user-01, each on a pool
# address, and N IKE SAs with ESP SAs; echoes "ip:public_ip:public_port ..."
# for the caller. With "reauth" (right after a phase 1 re-authentication)
# each peer may also still have the IKE SA it replaced: its ESP SAs moved to
# the new one and the client deletes it when it gets round to it, or it
# expires (RFC 2409 leaves both to the peer). Leaks are ours_empty's check
# once the client has gone.
check_ours_up() {
  local tag="$1" n="$2" mode="${3:-}" v
  ours "$tag"
  v=$(jqf "$tag" sessions length); [ "$v" = "$n" ] || err "ours($tag): $v sessions (want $n)"
  v=$(jqf "$tag" tunnels length); [ "$v" = "$n" ] || err "ours($tag): $v L2TP tunnels (want $n)"
  v=$(jqf "$tag" sessions '[.[] | select(.user != "'"$VIT_PPP_USER"'")] | length')
  [ "$v" = 0 ] || err "ours($tag): sessions of another user"
  if [ "$mode" = reauth ]; then
    v=$(jqf "$tag" sa '[.[] | select(.child_sas >= 1)] | length')
    [ "$v" = "$n" ] || err "ours($tag): $v IKE SAs with ESP SAs (want $n)"
    # A childless one only beside a live IKE SA of the same peer, one each.
    v=$(jqf "$tag" sa '([.[] | select(.child_sas >= 1) | .peer]) as $live |
        [.[] | select(.child_sas < 1) | .peer] | (map(select(. as $p | $live | index($p) | not)) | length) +
        (length - (unique | length))')
    [ "$v" = 0 ] || err "ours($tag): an IKE SA without ESP SAs that replaced nothing"
  else
    v=$(jqf "$tag" sa length); [ "$v" = "$n" ] || err "ours($tag): $v IKE SAs (want $n)"
    v=$(jqf "$tag" sa '[.[] | select(.child_sas < 1)] | length')
    [ "$v" = 0 ] || err "ours($tag): an IKE SA without ESP SAs"
  fi
  v=$(jqf "$tag" sessions '[.[] | select(.encryption == "-")] | length')
  [ "$v" = 0 ] || err "ours($tag): a session without an ESP SA"
}
# our_session TAG ADDR FIELD: a field of the session with assigned_ip ADDR
our_session() { jqf "$1" sessions ".[] | select(.assigned_ip == \"$2\") | .$3"; }

# check_wire direct|nat|cleartext|cleartext-none: no L2TP outside ESP on the
# WAN link. direct: zero UDP/1701 frames, ESP as IP protocol 50 and no
# ESP-in-UDP; nat: ESP only inside UDP 4500; cleartext: the client's plain
# L2TP is there (the capture works) and we never answered it;
# cleartext-none: only the zero UDP/1701 check.
check_wire() {
  local pcap="$SC_DIR/wan.pcap" mode="$1" l2tp esp espudp ours_l2tp
  [ -s "$pcap" ] || { err "wire: no WAN capture"; return 1; }
  l2tp=$(tcpdump -r "$pcap" -n 'udp port 1701' 2>/dev/null | wc -l)
  esp=$(tcpdump -r "$pcap" -n 'ip proto 50' 2>/dev/null | wc -l)
  # ESP in UDP 4500: the first 4 payload bytes (the SPI) are not the zero
  # non-ESP marker that IKE carries (RFC 3948 section 2.2).
  espudp=$(tcpdump -r "$pcap" -n 'udp port 4500 and udp[8:4] != 0' 2>/dev/null | wc -l)
  ours_l2tp=$(tcpdump -r "$pcap" -n "src host $VIT_SERVER_IP and udp port 1701" 2>/dev/null | wc -l)
  WIRE="wire: esp=$esp esp_in_udp=$espudp udp1701=$l2tp"
  case "$mode" in
    cleartext)
      [ "$l2tp" -gt 0 ] || err "wire: the client's cleartext L2TP is not in the capture"
      [ "$ours_l2tp" = 0 ] || err "wire: we sent $ours_l2tp cleartext L2TP frames" ;;
    cleartext-none)
      [ "$l2tp" = 0 ] || err "wire: $l2tp UDP/1701 frames outside ESP" ;;
    direct)
      [ "$l2tp" = 0 ] || err "wire: $l2tp UDP/1701 frames outside ESP"
      [ "$esp" -gt 10 ] || err "wire: only $esp ESP frames"
      [ "$espudp" = 0 ] || err "wire: $espudp ESP-in-UDP frames without NAT" ;;
    nat)
      [ "$l2tp" = 0 ] || err "wire: $l2tp UDP/1701 frames outside ESP"
      [ "$espudp" -gt 10 ] || err "wire: only $espudp ESP-in-UDP frames behind NAT"
      [ "$esp" = 0 ] || err "wire: $esp plain ESP frames behind NAT" ;;
  esac
}

# log_count REGEX FROM_LINE: lines of our control-plane log after FROM_LINE matching REGEX
log_lines() { wc -l < "$CONC_LOG/controlplane.log"; }
log_count() { tail -n +"$(( $2 + 1 ))" "$CONC_LOG/controlplane.log" | grep -c -E "$1"; }

# figures of a connected job, for the PASS line
figures() {
  local r="$1"
  echo "ipsec=$(field "$r" t_ipsec)s ppp=$(field "$r" t_ppp)s connect=$(field "$r" t_connect)s addr=$(field "$r" addr) ping=$(field "$r" ping) rtt=$(field "$r" rtt_ms)ms iperf_up=$(field "$r" iperf_up_mbps) down=$(field "$r" iperf_down_mbps) Mbit/s"
}

# connect_and_check G TOPO TAG [job args...]: one held connection, all three
# views while it is up, and nothing left after it went down. Sets RES.
connect_and_check() {
  local g="$1" topo="$2" tag="$3"; shift 3
  guest_ready "$g" || { err "guest $g never became ready (see ${G_CONSOLE[$g]})"; return 1; }
  job_submit "$g" TOPO="$topo" "$@" || { err "job setup failed"; return 1; }
  local n=$JN
  if ! job_wait "$g" $n "HOLD|JOBDONE" 300 >/dev/null; then
    err "guest $g job $n: no result in 300 s"; RES=$(job_res "$g" $n); return 1
  fi
  RES=$(job_res "$g" $n)
  local iperf=""; case " $* " in *" IPERF_SECS=0 "*) iperf=noiperf ;; esac
  check_client_up "$RES" "$topo" $iperf
  check_ours_up "$tag" 1
  local addr pub port
  addr=$(field "$RES" addr)
  pub=$(our_session "$tag" "$addr" public_ip); port=$(our_session "$tag" "$addr" public_port)
  OURS_PUBLIC="$pub:$port"
  job_finish "$g" $n
  ours_empty "$tag-after"
}

need_guest() { guest_ready "$1" || { err "guest $1 never became ready (see ${G_CONSOLE[$1]:-its console})"; return 1; }; }

# ---- scenarios ---------------------------------------------------------------------------
# 1: seed 004 on the public segment.
sc_direct() {
  need_guest a && conc_up || return 1
  connect_and_check a direct up
  [ "${OURS_PUBLIC%%:*}" = 198.18.0.2 ] || err "ours: session's public address $OURS_PUBLIC (want 198.18.0.2)"
  # nat_t is the negotiated method (RFC 3947 vendor IDs); without NAT the
  # peer never floats to 4500
  [ "$(jqf up sa '.[0].peer')" = 198.18.0.2:500 ] || err "ours: IKE peer $(jqf up sa '.[0].peer') (want 198.18.0.2:500, no float)"
  check_wire direct
  SC_DETAIL="$(figures "$RES") ours=$OURS_PUBLIC $WIRE"
}

# 2 / 2b: behind a NAT; the NAT's public address, NAT-T on both sides, and
# (2b) the rewritten source port followed by our ESP-in-UDP.
nat_scenario() {
  local mode="$1"
  need_guest a || return 1
  nat_setup "$mode" || { err "NAT setup failed"; return 1; }
  conc_up || return 1
  connect_and_check a nat up
  local pub="${OURS_PUBLIC%%:*}" port="${OURS_PUBLIC##*:}"
  [ "$pub" = "$VIT_NAT_IP" ] || err "ours: session's public address $pub (want the NAT's $VIT_NAT_IP)"
  [ "$(jqf up sa '.[0].nat_t')" = rfc3947 ] || err "ours: IKE SA NAT-T method $(jqf up sa '.[0].nat_t') (want rfc3947)"
  local natport
  natport=$(jqf up sa '.[0].peer' | sed 's/.*://')
  if [ "$mode" = ports ]; then
    [ "$natport" -ge 40000 ] 2>/dev/null && [ "$natport" -le 49999 ] || err "ours: IKE peer port $natport (want the NAT's 40000-49999)"
    # our ESP-in-UDP must go to the rewritten port
    local n; n=$(tcpdump -r "$SC_DIR/wan.pcap" -n "src host $VIT_SERVER_IP and udp dst port $natport and udp[8:4] != 0" 2>/dev/null | wc -l)
    [ "$n" -gt 5 ] || err "wire: only $n ESP-in-UDP frames from us to $VIT_NAT_IP:$natport"
  else
    [ "$natport" = 4500 ] || err "ours: IKE peer port $natport (plain MASQUERADE keeps 4500)"
  fi
  check_wire nat
  SC_DETAIL="$(figures "$RES") ours: peer $(jqf up sa '.[0].peer') nat_t=$(jqf up sa '.[0].nat_t') $WIRE"
}
sc_nat() { nat_scenario plain; }
sc_nat_ports() { nat_scenario ports; }

# 3: two clients (strongSwan in guest a, libreswan in guest b) behind the
# same NAT at once; each reaches the LAN and its ppp link carries none of
# the other's packets (tcpdump on each guest's ppp interface while both
# ping and run iperf3).
sc_two_clients() {
  need_guest a && need_guest b || return 1
  nat_setup plain || { err "NAT setup failed"; return 1; }
  conc_up || return 1
  job_submit a TOPO=nat SYNC=1 PPP_CAPTURE=1 IPERF_PORT=5201; local na=$JN
  job_submit b TOPO=nat SYNC=1 PPP_CAPTURE=1 IPERF_PORT=5202; local nb=$JN
  local g n ok=1
  for g in a b; do
    n=$na; [ $g = b ] && n=$nb
    job_wait $g $n "PPPUP|HOLD|JOBDONE" 300 >/dev/null || { err "guest $g: no result in 300 s"; ok=0; }
    grep -a -q "^VPNCONC-PPPUP job=$n" "${G_CONSOLE[$g]}" || { ok=0; err "guest $g: not connected: $(job_res $g $n | grep -o -E '(ipsec|ppp|error)=[^ ]*' | paste -sd' ' -)"; }
  done
  [ $ok = 1 ] || return 1   # guests_settle (run.sh) releases the other one
  check_ours_up both 2
  # both clients send at the same time
  job_touch a $na traffic; job_touch b $nb traffic
  for g in a b; do
    n=$na; [ $g = b ] && n=$nb
    job_wait $g $n "HOLD|JOBDONE" 300 >/dev/null || err "guest $g: traffic phase did not end"
  done
  local ra rb adda addb
  ra=$(job_res a $na); rb=$(job_res b $nb)
  check_client_up "$ra" nat; check_client_up "$rb" nat
  adda=$(field "$ra" addr); addb=$(field "$rb" addr)
  [ "$adda" != "$addb" ] || err "both clients got $adda"
  local pa pb
  pa=$(our_session both "$adda" public_port); pb=$(our_session both "$addb" public_port)
  [ -n "$pa" ] && [ -n "$pb" ] || err "ours: no session for $adda or $addb"
  local ports; ports=$(jqf both sa '[.[].peer] | unique | length')
  [ "$ports" = 2 ] || err "ours: the two IKE SAs share a peer address:port ($(jqf both sa '[.[].peer]|join(",")'))"
  # Everything scenario 2 checks of one client behind a plain MASQUERADE,
  # for both (so 2 need not run by default): the NAT's public address on
  # both sessions and IKE SAs, NAT-T negotiated (RFC 3947) on both, and the
  # first mapping keeps source port 4500.
  local v
  v=$(jqf both sessions "[.[] | select(.public_ip != \"$VIT_NAT_IP\")] | length")
  [ "$v" = 0 ] || err "ours: $v sessions not from the NAT's $VIT_NAT_IP"
  v=$(jqf both sa "[.[] | select((.peer | split(\":\")[0]) != \"$VIT_NAT_IP\")] | length")
  [ "$v" = 0 ] || err "ours: $v IKE SAs not from the NAT's $VIT_NAT_IP"
  v=$(jqf both sa '[.[] | select(.nat_t != "rfc3947")] | length')
  [ "$v" = 0 ] || err "ours: $v IKE SAs without NAT-T rfc3947 ($(jqf both sa '[.[].nat_t]|join(",")'))"
  v=$(jqf both sa '[.[] | select(.peer | endswith(":4500"))] | length')
  [ "$v" -ge 1 ] 2>/dev/null || err "ours: no IKE SA from port 4500 (plain MASQUERADE keeps the first client's)"
  # isolation on each client's ppp link
  local own other f cnt mine
  for g in a b; do
    if [ $g = a ]; then n=$na own=$adda other=$addb; else n=$nb own=$addb other=$adda; fi
    f="$(job_out $g $n)/ppp.txt"
    [ -s "$f" ] || { err "guest $g: empty ppp capture"; continue; }
    mine=$(grep -c "$own > $VIT_LAN_HOST: ICMP echo request" "$f")
    [ "$mine" -ge 5 ] || err "guest $g: its own pings missing from its ppp capture ($mine)"
    cnt=$(grep -c -w -F "$other" "$f")   # -w: 192.168.0.1 must not match .100
    [ "$cnt" = 0 ] || err "guest $g sees $cnt packets of the other client ($other) on its ppp link"
    # every IPv4 packet on the link is between its own address and the LAN
    # host or our PPP end ("... IP SRC[.port] > DST[.port]: ...")
    cnt=$(awk -v a="$own" -v l="$VIT_LAN_HOST" -v gw="$VIT_LNS_LOCAL_IP" '
      { for (i = 1; i < NF; i++) if ($i == "IP") break
        if ($i != "IP") next
        for (k = i + 1; k <= i + 3; k += 2) { x = $k; sub(/:$/, "", x); split(x, p, ".")
          ip = p[1] "." p[2] "." p[3] "." p[4]; if (ip != a && ip != l && ip != gw) n++ } }
      END { print n + 0 }' "$f")
    [ "$cnt" = 0 ] || err "guest $g: $cnt packets on its ppp link that are not its own"
  done
  job_finish a $na; job_finish b $nb
  ours_empty both-after
  check_wire nat
  SC_DETAIL="a: $(figures "$ra") public ${VIT_NAT_IP}:$pa | b: $(figures "$rb") public ${VIT_NAT_IP}:$pb | ppp captures a=$(field "$ra" ppp_capture_pkts) b=$(field "$rb" ppp_capture_pkts) pkts $WIRE"
}

# 4: libreswan 4.10 (NetworkManager-l2tp's libreswan conn, no ikev1-policy).
sc_libreswan() {
  need_guest b && conc_up || return 1
  connect_and_check b direct up
  [ "${OURS_PUBLIC%%:*}" = 198.18.0.3 ] || err "ours: session's public address $OURS_PUBLIC (want 198.18.0.3)"
  check_wire direct
  SC_DETAIL="$(figures "$RES") ike=$(field "$RES" ike) $WIRE"
}

# 5: three failures in a row; each: the client fails cleanly, our log gives
# the reason exactly once, nothing is left on our side.
sc_failures() {
  need_guest a && conc_up || return 1
  local from n r t0 c details=()
  # 5a wrong PSK: Main Mode message 5 does not decrypt on our side. We
  # cannot answer it (RFC 2409 5: nothing authenticated to answer with), so
  # the client retransmits until it gives up: 2 retransmissions 2 s and 3 s
  # apart instead of strongSwan's 5 over ~90 s (the timeout used to end it
  # at 40 s); our log must still give the reason once for the 3 copies.
  from=$(log_lines); t0=$(date +%s)
  job_submit a PSK="not-$VIT_PSK" EXPECT=ipsec-fail KEYINGTRIES=1 IPSEC_TIMEOUT=40 HOLD=0 \
    RETRANSMIT_TRIES=2 RETRANSMIT_TIMEOUT=2.0 RETRANSMIT_BASE=1.5; n=$JN
  job_wait a $n JOBDONE 180 >/dev/null || err "psk: guest did not finish"
  r=$(job_res a $n)
  [ "$(field "$r" ipsec)" = fail ] || err "psk: client ipsec=$(field "$r" ipsec) with a wrong PSK"
  [ "$(field "$r" ipsec_rc)" != 124 ] || err "psk: the client did not give up by itself within ${IPSEC_TIMEOUT:-40}s (killed by timeout)"
  [ -z "$(field "$r" ppp)" ] || err "psk: ppp ran with a wrong PSK"
  c=$(log_count "$FAIL_RE_PSK" "$from"); [ "$c" = 1 ] || err "psk: our log gives the reason $c times (want 1: /$FAIL_RE_PSK/)"
  ours_empty psk-after
  details+=("psk: client gave up after $(field "$r" t_ipsec)s, log lines=$c")
  # 5b wrong password: IPsec and L2TP come up, MS-CHAPv2 fails.
  from=$(log_lines)
  job_submit a PPP_PASS="not-$VIT_PPP_PASS" EXPECT=ppp-fail PPP_TIMEOUT=40 PING_COUNT=0 HOLD=1; n=$JN
  job_wait a $n "HOLD|JOBDONE" 180 >/dev/null || err "password: guest did not finish"
  r=$(job_res a $n)
  [ "$(field "$r" ipsec)" = ok ] || err "password: IPsec should come up (ipsec=$(field "$r" ipsec))"
  [ "$(field "$r" ppp)" = fail ] || err "password: client ppp=$(field "$r" ppp) with a wrong password"
  grep -q -E 'MS-CHAP authentication failed|authentication failed' "$(job_out a $n)/pppd.log" 2>/dev/null ||
    err "password: pppd does not report an authentication failure"
  # While the client still has its IPsec SA: no PPP session on our side.
  local i s
  for i in $(seq 1 20); do ours password-held; s=$(jqf password-held sessions length); [ "$s" = 0 ] && break; sleep 0.5; done
  [ "$s" = 0 ] || err "password: $s sessions left after the failed login"
  c=$(log_count "$FAIL_RE_PASSWORD" "$from"); [ "$c" = 1 ] || err "password: our log gives the reason $c times (want 1: /$FAIL_RE_PASSWORD/)"
  job_finish a $n
  ours_empty password-after
  details+=("password: ppp failed after $(field "$r" t_ppp)s, log lines=$c")
  # 5c no common proposal: phase 1 offers only what we do not accept.
  from=$(log_lines)
  job_submit a CLIENT_IKE="aes128-sha256-modp3072!" EXPECT=ipsec-fail KEYINGTRIES=1 IPSEC_TIMEOUT=40 HOLD=0; n=$JN
  job_wait a $n JOBDONE 180 >/dev/null || err "proposal: guest did not finish"
  r=$(job_res a $n)
  [ "$(field "$r" ipsec)" = fail ] || err "proposal: client ipsec=$(field "$r" ipsec) without a common proposal"
  grep -q -i 'NO_PROPOSAL_CHOSEN' "$(job_out a $n)/charon.log" 2>/dev/null ||
    err "proposal: the client did not get NO_PROPOSAL_CHOSEN"
  c=$(log_count "$FAIL_RE_PROPOSAL" "$from"); [ "$c" = 1 ] || err "proposal: our log gives the reason $c times (want 1: /$FAIL_RE_PROPOSAL/)"
  ours_empty proposal-after
  details+=("proposal: client failed after $(field "$r" t_ipsec)s, log lines=$c")
  # Nothing of any of them reached L2TP/PPP in the clear.
  check_wire cleartext-none
  SC_DETAIL="$(printf '%s; ' "${details[@]}")$WIRE"
}
# What our control plane logs for each failure (one line per failed attempt).
FAIL_RE_PSK='refused .*(decrypt|PSK|HASH)'
FAIL_RE_PASSWORD="authentication of user '$VIT_PPP_USER' .* failed"
FAIL_RE_PROPOSAL='refused .*NO.PROPOSAL.CHOSEN'

# 6: xl2tpd without IPsec: dropped and counted by the dataplane, no tunnel.
sc_cleartext() {
  need_guest a && conc_up || return 1
  # xl2tpd sends its SCCRQ at once and retransmits it 1, 2, 4 s later: 8 s
  # hold 4 of them (we count every one), 15 s only added waiting.
  job_submit a MODE=cleartext EXPECT=no-ppp PPP_TIMEOUT=8 PING_COUNT=0 HOLD=1; local n=$JN
  job_wait a $n "HOLD|JOBDONE" 120 >/dev/null || err "guest did not finish"
  local r; r=$(job_res a $n)
  [ "$(field "$r" ppp)" = fail ] || err "client got ppp=$(field "$r" ppp) without IPsec"
  ours held
  local c t s
  c=$(counter held l2tp_cleartext); t=$(jqf held tunnels length); s=$(jqf held sessions length)
  [ "$c" -ge 1 ] 2>/dev/null || err "ours: l2tp_cleartext counter is $c"
  [ "$t" = 0 ] || err "ours: $t tunnels from a cleartext client"
  [ "$s" = 0 ] || err "ours: $s sessions from a cleartext client"
  job_finish a $n
  check_wire cleartext
  SC_DETAIL="l2tp_cleartext=$c tunnels=$t sessions=$s client_l2tp_frames=$(tcpdump -r "$SC_DIR/wan.pcap" -n 'udp dst port 1701' 2>/dev/null | wc -l)"
}

# 7: two disconnect/reconnect cycles, then a third connection with short
# lifetimes under a REKEY_IPERF_SECS iperf3 --bidir with 1 s intervals: no
# second may be empty in both directions, no ESP packet may hit an unknown
# SPI, the session stays the same while its ESP and IKE SAs change.
# Lifetimes (no fuzz): ESP 40 s with a 25 s margin, so the client rekeys
# phase 2 every 15 s (T+15, T+30, T+45 after the first CHILD_SA); IKE 60 s,
# so it reauthenticates phase 1 at T+35. iperf3 starts ~T+8 (T+20 on a
# loaded host): two phase 2 rekeys and the phase 1 one fall inside it, and
# that is checked (charon.log times against the run's start and end).
REKEY_IPERF_SECS=36
# The wire is quiet in a direction when a 1-second window holds fewer ESP
# frames than this (~800/s flow normally, 150-300/s in the dips at a rekey
# under load; a black hole leaves only TCP's RTO retransmissions).
REKEY_WIRE_QUIET=20
# ... and the client kept sending when it sent at least this many meanwhile.
REKEY_WIRE_FLOW=100

# rekey_wire_check G JOB T0 BZ: scenario 7's stall verdict from three views
# that do not depend on the guest being scheduled (README "Scenario 7: what
# counts as a stall"). T0: host time the traffic was let go; BZ: iperf3's
# seconds empty in both directions ("a:b,..."). Sets REKEY_WIRE.
rekey_wire_check() {
  local g="$1" n="$2" t0="$3" bz="$4" d def names jo out
  # 1. Ours: no packet lost for any reason the dataplane counts (severity
  # drop or error in drop_reasons.def) nor by a full transmit queue.
  def="$VIT_HERE/../../shared/include/vpn/drop_reasons.def"
  names=$(sed -n 's/^X(\([a-z0-9_]*\), *\(drop\|error\),.*/\1/p' "$def" 2>/dev/null | paste -sd' ' -)
  if [ -z "$names" ]; then
    err "ours: no drop reasons in $def: cannot judge the drop counters"
  else
    d=$(jq -r --slurpfile s "$SC_DIR/ours-rekey-start-counters.json" --arg names "$names" '
        .reasons as $e | $s[0].reasons as $b
        | [ ($names | split(" "))[] | . as $k | (($e[$k] // 0) - ($b[$k] // 0)) | select(. != 0) | "\($k)=\(.)" ]
          + [ (([.ports[].tx_dropped] | add) - ([$s[0].ports[].tx_dropped] | add)) | select(. != 0) | "ports.tx_dropped=\(.)" ]
        | join(" ")' "$SC_DIR/ours-rekey-counters.json" 2>/dev/null) || d="(counters unreadable)"
    [ -z "$d" ] || err "ours: packets dropped during the rekey run: $d"
  fi
  # 2. The client's kernel: none of our ESP frames hit a dead or unknown SA,
  # failed its ICV or replay check (XfrmIn* of /proc/net/xfrm_stat).
  jo=$(job_out "$g" "$n")
  if [ -s "$jo/xfrm-stat-before.txt" ] && [ -s "$jo/xfrm-stat-after.txt" ]; then
    d=$(awk 'NR == FNR { b[$1] = $2; next }
             $1 ~ /^XfrmIn/ && $2 - b[$1] != 0 { printf "%s%s=%d", s, $1, $2 - b[$1]; s = " " }' \
          "$jo/xfrm-stat-before.txt" "$jo/xfrm-stat-after.txt")
    [ -z "$d" ] || err "client: its kernel dropped ESP frames of ours during the rekey run: $d"
  else
    err "client: no /proc/net/xfrm_stat from before and after the run"
  fi
  # 3. The wire: ESP frames per direction and second during the iperf3 run;
  # an empty iperf3 second fails only when the wire was quiet then too, and
  # a second in which the client sent but we did not fails anyway.
  out=$(tcpdump -r "$SC_DIR/wan.pcap" -tt -nn 'ip proto 50 or (udp port 4500 and udp[8:4] != 0)' 2>/dev/null |
    awk -v us="$VIT_SERVER_IP" '{ print $1, ($3 == us || index($3, us ".") == 1) ? "down" : "up", $NF }' |
    awk -v t0="$t0" -v thr="$REKEY_WIRE_QUIET" -v flow="$REKEY_WIRE_FLOW" -v bz="$bz" -v slack=1 \
      -f "$VIT_HERE/rekey-wire.awk")
  echo "$out" > "$SC_DIR/rekey-wire.txt"
  while read -r d; do err "wire: ${d#FAIL }"; done < <(echo "$out" | grep '^FAIL')
  REKEY_WIRE="wire in the run: min ESP frames/s up $(echo "$out" | awk '$1 == "min" && $2 == "up" { print $3 }') down $(echo "$out" | awk '$1 == "min" && $2 == "down" { print $3 }'), quiet seconds $(echo "$out" | grep -c '^quiet'), iperf3 seconds empty both ways ${bz:-none}"
}

# REKEY_PAUSE_DATAPLANE="AT:SECS" (unset normally): SIGSTOP our dataplane AT
# seconds after the traffic starts, for SECS seconds: the proof that the
# stall check still fails when we stall (README).
rekey_pause_dataplane() {
  [ -n "${REKEY_PAUSE_DATAPLANE:-}" ] || return 0
  local pid at secs
  pid=$(jqf rekey-start counters .dataplane_pid); at=${REKEY_PAUSE_DATAPLANE%%:*}; secs=${REKEY_PAUSE_DATAPLANE##*:}
  case "$pid" in ''|*[!0-9]*) err "REKEY_PAUSE_DATAPLANE: no dataplane PID"; return 0 ;; esac
  ( sleep "$at"; kill -STOP "$pid"; sleep "$secs"; kill -CONT "$pid" ) &
  vit_track_pid $!
  echo "scenario 7: dataplane $pid will pause ${secs}s at +${at}s (REKEY_PAUSE_DATAPLANE)" >&2
}
sc_rekey() {
  need_guest a && conc_up || return 1
  local i cyc=()
  for i in 1 2; do
    connect_and_check a direct "cycle$i" PING_COUNT=3 PING_MTU=0 IPERF_SECS=0
    cyc+=("$(field "$RES" t_connect)s/$(field "$RES" addr)")
  done
  local from; from=$(log_lines)
  guest_ready a || return 1
  job_submit a SYNC=1 PING_COUNT=2 PING_MTU=0 IPERF_SECS=0 IPERF_BIDIR_SECS=$REKEY_IPERF_SECS \
    IKE_LIFETIME=60s ESP_LIFETIME=40s REKEY_MARGIN=25s REKEY_FUZZ=0%; local n=$JN
  job_wait a $n "PPPUP|JOBDONE" 300 >/dev/null || { err "rekey job: not connected in 300 s"; return 1; }
  grep -a -q "^VPNCONC-PPPUP job=$n" "${G_CONSOLE[a]}" || { err "rekey job: not connected: $(job_res a $n | grep -o -E '(ipsec|ppp|error)=[^ ]*' | paste -sd' ' -)"; return 1; }
  # Our view before any rekey: the session, its IKE SA and ESP SA.
  ours rekey-start
  local t0; t0=$(date +%s.%N)
  job_touch a $n traffic
  rekey_pause_dataplane
  job_wait a $n "HOLD|JOBDONE" $(( REKEY_IPERF_SECS + 240 )) >/dev/null || { err "rekey job: no result"; return 1; }
  local r; r=$(job_res a $n)
  check_client_up "$r" direct noiperf
  check_ours_up rekey 1 reauth
  local f; f="$(job_out a $n)/iperf-bidir.txt"
  # "[  5][TX-C]   3.00-4.00   sec  1.38 MBytes  11.5 Mbits/sec ..." per
  # interval and direction: the client's view (its iperf3 process), where a
  # second may be empty both ways because the TCG guest did not run iperf3
  # (see rekey_wire_check). Second line: those seconds, "a:b,...".
  local stats bz
  { read -r stats; read -r bz; } < <(awk '/\]\[(TX|RX)-C\] +[0-9.]+-[0-9.]+ +sec/ && !/sender|receiver/ {
      d = ($0 ~ /TX-C/) ? "up" : "down"
      for (i = 1; i <= NF; i++) { if ($i ~ /bits\/sec/) { v = $(i-1); u = $i }; if ($i ~ /^[0-9.]+-[0-9.]+$/) iv = $i }
      if (u ~ /^K/) v /= 1000; else if (u ~ /^G/) v *= 1000; else if (u !~ /^M/) v /= 1e6
      n[d]++; s[d] += v; if (v == 0) z[d]++
      if (d == "up") { up0[n[d]] = (v == 0); ui[n[d]] = iv } else dn0[n[d]] = (v == 0) }
    END { both = 0; l = ""
          for (i = 1; i <= n["up"]; i++) if (up0[i] && dn0[i]) { both++; sub(/-/, ":", ui[i]); l = l (l == "" ? "" : ",") ui[i] }
          printf "up:n=%d,avg=%.2f,zero=%d down:n=%d,avg=%.2f,zero=%d both_zero=%d\n%s\n", n["up"], s["up"]/(n["up"]?n["up"]:1), z["up"]+0, n["down"], s["down"]/(n["down"]?n["down"]:1), z["down"]+0, both, l }' "$f")
  echo "$stats" > "$SC_DIR/iperf-intervals.txt"
  local nup ndown
  nup=$(echo "$stats" | sed -n 's/.*up:n=\([0-9]*\).*/\1/p'); ndown=$(echo "$stats" | sed -n 's/.*down:n=\([0-9]*\).*/\1/p')
  [ "${nup:-0}" -ge $(( REKEY_IPERF_SECS - 2 )) ] && [ "${ndown:-0}" -ge $(( REKEY_IPERF_SECS - 2 )) ] ||
    err "iperf3: only ${nup:-0} up / ${ndown:-0} down intervals of $REKEY_IPERF_SECS (see $f)"
  rekey_wire_check a $n "$t0" "$bz"
  # A rekey must not lose packets: the client uses its new outbound SA as
  # soon as it has Quick Mode 2, so our inbound SA must exist by then.
  local unk; unk=$(counter rekey esp_unknown_spi)
  [ "${unk:-0}" = 0 ] || err "ours: $unk ESP packets with an unknown SPI during the rekeys (esp_unknown_spi)"
  # Rekeys seen by the client and by us, and those inside the iperf3 run
  # (charon.log and the run's bounds are both the guest's wall clock).
  local clog cl_child cl_ike our_esp our_ike win_child win_ike
  clog="$(job_out a $n)/charon.log"
  cl_child=$(grep -c -E 'CHILD_SA .*established' "$clog" 2>/dev/null)
  cl_ike=$(grep -c -E 'IKE_SA .*established between' "$clog" 2>/dev/null)
  read -r win_child win_ike < <(awk -v a="$(field "$r" iperf_bidir_from)" -v b="$(field "$r" iperf_bidir_to)" '
      function sec(t,  p) { split(t, p, ":"); return p[1] * 3600 + p[2] * 60 + p[3] }
      BEGIN { s = sec(a); e = sec(b); if (e < s) e += 86400 }
      { t = sec($1); if (t < s) t += 86400 }
      t >= s && t <= e && /CHILD_SA .*established/ { c++ }
      t >= s && t <= e && /IKE_SA .*established between/ { k++ }
      END { print c + 0, k + 0 }' "$clog" 2>/dev/null)
  our_esp=$(log_count 'ESP SA .* installed' "$from"); our_ike=$(log_count 'IKE SA [0-9a-f]+ established' "$from")
  [ "${cl_child:-0}" -ge 3 ] || err "client: $cl_child CHILD_SAs established (want >= 3: initial + 2 rekeys)"
  [ "${cl_ike:-0}" -ge 2 ] || err "client: $cl_ike IKE_SAs established (want >= 2: initial + 1 reauthentication)"
  [ "${win_child:-0}" -ge 2 ] || err "client: $win_child phase 2 rekeys during the iperf3 run $(field "$r" iperf_bidir_from)-$(field "$r" iperf_bidir_to) (want >= 2)"
  [ "${win_ike:-0}" -ge 1 ] || err "client: $win_ike phase 1 rekeys during the iperf3 run $(field "$r" iperf_bidir_from)-$(field "$r" iperf_bidir_to) (want >= 1)"
  [ "${our_esp:-0}" -ge 3 ] || err "ours: $our_esp ESP SA installs (want >= 3)"
  [ "${our_ike:-0}" -ge 2 ] || err "ours: $our_ike IKE SAs established (want >= 2)"
  # Same session (id, address, L2TP ids) on new ESP and IKE SAs.
  local k v0 v1
  for k in .id .assigned_ip .tunnel_id .session_id; do
    v0=$(jqf rekey-start sessions ".[0]$k"); v1=$(jqf rekey sessions ".[0]$k")
    [ "$v0" = "$v1" ] && [ "$v0" != null ] || err "ours: session $k changed during the rekeys ($v0 -> $v1)"
  done
  for k in .ipsec.spi_in .ike.id; do
    v0=$(jqf rekey-start sessions ".[0]$k"); v1=$(jqf rekey sessions ".[0]$k")
    [ "$v0" != "$v1" ] || err "ours: the session's $k is still $v0 after the rekeys"
  done
  job_finish a $n
  ours_empty rekey-after
  check_wire direct
  SC_DETAIL="reconnects ${cyc[*]}; rekey run: client CHILD_SA x$cl_child IKE_SA x$cl_ike (in the iperf3 run: $win_child / $win_ike), ours ESP installs $our_esp IKE $our_ike, esp_unknown_spi=$unk; iperf3 --bidir ${REKEY_IPERF_SECS}s 1 s intervals $stats; $REKEY_WIRE; $WIRE"
}
