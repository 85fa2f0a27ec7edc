#!/bin/bash
# Interop harness: stock Linux L2TP/IPsec clients (QEMU guests) against the
# reference LNS guest or, later, against our concentrator.
#
#   tests/interop/run.sh [--target reference|concentrator] [--out DIR]
#                        [--iperf-secs N] [scenario...]
#
# Scenarios (default: 1 2; "all" = 1 2 nat-ports 4 neg-psk):
#   1 | direct     seed 004 setup: strongSwan client (NetworkManager-l2tp style)
#                  on the public segment: connect, address from the pool,
#                  ping the LAN host, iperf3 both ways
#   2 | nat        the same client behind a MASQUERADE namespace, so IKE
#                  floats to UDP 4500 and ESP goes in UDP (RFC 3947/3948)
#   nat-ports      scenario 2 behind a port-rewriting NAT (UDP source ports
#                  mapped to 40000-49999, so 4500 is not kept: the harder case)
#   4 | libreswan  scenario 1 with a libreswan client (own image variant:
#                  Debian's libreswan conflicts with strongSwan)
#   neg-psk        negative control: the client has the wrong PSK; PASS means
#                  the IPsec SA was NOT established and no PPP came up
#
# Output: a PASS/FAIL/SKIP line per scenario and a final line
#   interop: N passed, M failed[, K skipped]
# Exit 0 only if every scenario that ran passed. When QEMU cannot run on this
# machine at all, every scenario is a loud SKIP and the exit code is 0.
#
# Environment: VPNCONC_IMAGE_DIR_STRONGSWAN / VPNCONC_IMAGE_DIR_LIBRESWAN
# (VPNCONC_IMAGE_DIR = the strongSwan one) use a prebuilt image instead of
# calling build-image.sh; VIT_GUEST_MEM (MiB, default 512).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=targets.sh
. "$HERE/targets.sh"

TARGET=reference
OUTROOT=""
IPERF_SECS=4
SCENARIOS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --target) TARGET="$2"; shift 2 ;;
    --target=*) TARGET="${1#*=}"; shift ;;
    --out) OUTROOT="$2"; shift 2 ;;
    --iperf-secs) IPERF_SECS="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    1|direct) SCENARIOS+=(direct); shift ;;
    2|nat) SCENARIOS+=(nat); shift ;;
    4|libreswan) SCENARIOS+=(libreswan); shift ;;
    neg-psk) SCENARIOS+=(neg-psk); shift ;;
    nat-ports) SCENARIOS+=(nat-ports); shift ;;
    all) SCENARIOS+=(direct nat nat-ports libreswan neg-psk); shift ;;
    *) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(direct nat)
case "$TARGET" in reference|concentrator) ;; *) echo "run.sh: bad --target $TARGET" >&2; exit 2 ;; esac

OUTROOT="${OUTROOT:-/tmp/vpnconc-interop/run-$(date +%Y%m%d-%H%M%S)-$VIT_RUNID}"

# scenario_info NAME -> SC_NUM SC_TOPO (direct|nat) SC_CLIENT (strongswan|
# libreswan) SC_EXPECT (connect|reject)
scenario_info() {
  case "$1" in
    direct)    SC_NUM=1; SC_TOPO=direct; SC_CLIENT=strongswan; SC_EXPECT=connect ;;
    nat)       SC_NUM=2; SC_TOPO=nat;    SC_CLIENT=strongswan; SC_EXPECT=connect ;;
    nat-ports) SC_NUM=2b; SC_TOPO=nat-ports; SC_CLIENT=strongswan; SC_EXPECT=connect ;;
    libreswan) SC_NUM=4; SC_TOPO=direct; SC_CLIENT=libreswan;  SC_EXPECT=connect ;;
    neg-psk)   SC_NUM=neg; SC_TOPO=direct; SC_CLIENT=strongswan; SC_EXPECT=reject ;;
  esac
}

PASSED=0; FAILEDN=0; SKIPPED=0
summary_and_exit() {
  if [ "$SKIPPED" -gt 0 ]; then
    echo "interop: $PASSED passed, $FAILEDN failed, $SKIPPED skipped"
  else
    echo "interop: $PASSED passed, $FAILEDN failed"
  fi
  [ "$FAILEDN" = 0 ]; exit $?
}
skip_all() {
  local why="$1" s
  echo "################################################################" >&2
  echo "### SKIP: interop tests cannot run here: $why" >&2
  echo "################################################################" >&2
  for s in "${SCENARIOS[@]}"; do scenario_info "$s"; echo "SKIP scenario $SC_NUM ($s): $why"; SKIPPED=$((SKIPPED+1)); done
  summary_and_exit
}

# ---- can we run guests at all? ---------------------------------------------------
if [ "$(id -u)" = 0 ] && ! command -v qemu-system-x86_64 >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-system-x86 >/dev/null 2>&1 || true
fi
why=$(vit_qemu_usable) || skip_all "$why"
mkdir -p "$OUTROOT" || skip_all "cannot create $OUTROOT"
for tool in iperf3 iptables; do
  command -v $tool >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q $tool >/dev/null 2>&1 || true
done

vit_install_traps

# ---- images (built on first use, cached) ------------------------------------------------
# image VARIANT -> sets IMG_<variant>; returns 1 if it cannot be built.
declare -A IMGS=()
image() {
  local v="$1" t0 dir
  [ -n "${IMGS[$v]:-}" ] && return 0
  t0=$(date +%s)
  local override="VPNCONC_IMAGE_DIR_${v^^}"
  [ "$v" = strongswan ] && [ -z "${!override:-}" ] && override=VPNCONC_IMAGE_DIR
  if [ -n "${!override:-}" ]; then
    dir="${!override}"
  else
    dir=$("$HERE/build-image.sh" --variant "$v" 2> "$OUTROOT/build-image-$v.log" | tail -1)
  fi
  if [ -z "$dir" ] || [ ! -f "$dir/rootfs.ext4" ]; then
    vit_log "image $v: build FAILED, see $OUTROOT/build-image-$v.log"
    tail -20 "$OUTROOT/build-image-$v.log" >&2
    return 1
  fi
  IMGS[$v]="$dir"
  vit_log "image $v: $dir ($(( $(date +%s) - t0 ))s)"
}

# ---- parameters shared by every scenario and every target (seed 004) -------------------
export VIT_SERVER_IP=198.18.0.1          # the concentrator's / reference LNS public address
export VIT_PUBLIC_NET=198.18.0.0/24
export VIT_PSK=secret123
export VIT_PPP_USER=user-01 VIT_PPP_PASS=password123
export VIT_POOL_START=192.168.0.1 VIT_POOL_END=192.168.0.31
export VIT_LNS_LOCAL_IP=192.168.0.254    # gateway address on the LAN and PPP local address
export VIT_LAN_NET=192.168.0.0/24
export VIT_LAN_HOST=192.168.0.100        # LAN namespace host (ping + iperf3 server)
# Windows 11 IKE proposal list (seed 004) as strongSwan ike= syntax, in the
# order Windows offers them; ESP AES128-SHA1 as configured in seed 004.
CLIENT_IKE="aes256-sha1-ecp384,aes128-sha1-ecp256,aes256-sha1-modp2048,3des-sha1-modp2048,3des-sha1-modp1024!"
CLIENT_ESP="aes128-sha1!"
# Same list in libreswan syntax (no '!' strict marker), minus the last
# proposal: libreswan 4.10 refuses the whole conn with "IKE DH algorithm
# 'modp1024' is not supported".
CLIENT_IKE_LSW="aes256-sha1-ecp384,aes128-sha1-ecp256,aes256-sha1-modp2048,3des-sha1-modp2048"
CLIENT_ESP_LSW="aes128-sha1"
EXPECT_IKE="AES_CBC_256/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_2048"
EXPECT_ESP="AES_CBC_128/HMAC_SHA1_96"

sc_err() { echo "$*" >> "$SC_ERRS"; }

# ---- one scenario ----------------------------------------------------------------------
# Topology (namespaces are vit<runid>-NAME):
#
#   [client guest]--tap--(br-wan)--tap--[reference server guest eth0 198.18.0.1]
#                         in "wan"                 eth1 192.168.0.254 --tap--(br-lan)
#                                                                               |
#                                                       veth -- "lan" ns: 192.168.0.100
#   scenario nat: [client]--tap--(br-home)--veth--"nat" ns (MASQUERADE)--veth--(br-wan)
#
# The "wan" namespace is a pure switch: bridges and taps, no addresses, no
# forwarding; all QEMU processes run in it. For --target concentrator the
# server guest is replaced by namespace "conc" whose veths plug into br-wan
# and br-lan (see targets.sh).
run_scenario() {
  local sc="$1"
  local dir="$OUTROOT/$sc"
  mkdir -p "$dir"
  scenario_info "$sc"
  image strongswan || { sc_err "no strongswan guest image"; return 1; }
  image "$SC_CLIENT" || { sc_err "no $SC_CLIENT guest image"; return 1; }
  local IMG="${IMGS[strongswan]}" CIMG="${IMGS[$SC_CLIENT]}"
  local t_start; t_start=$(date +%s)
  local WAN LAN NAT
  WAN=$(vit_nsname wan); LAN=$(vit_nsname lan); NAT=$(vit_nsname nat)
  vit_ns wan && vit_ns lan || { sc_err "setup: netns failed"; return 1; }
  vit_bridge "$WAN" br-wan && vit_bridge "$WAN" br-lan || return 1
  vit_veth "$WAN" lanp "$LAN" lan0 br-lan || return 1
  ip -n "$LAN" addr add "$VIT_LAN_HOST/24" dev lan0
  # A veth hands TCP/UDP to its peer with the checksum left for offload
  # (CHECKSUM_PARTIAL); a DPDK af_packet port reads that frame raw. Make the
  # LAN host put real checksums on the wire, as a NIC would deliver them.
  ip netns exec "$LAN" ethtool -K lan0 tx off >/dev/null 2>&1 || true
  # The LAN host routes nothing else: replies to pool addresses are resolved
  # by ARP on the segment (proxy-ARP on the gateway, as in seed 004).
  ip netns exec "$LAN" iperf3 -s -B "$VIT_LAN_HOST" > "$dir/iperf3-server.log" 2>&1 &
  vit_track_pid $!

  # --- server side ---
  local spid="" sshare="$dir/server-share" t_sq=0 t_sready=n/a
  if [ "$TARGET" = reference ]; then
    vit_tap "$WAN" "vit${VIT_RUNID}s0" br-wan && vit_tap "$WAN" "vit${VIT_RUNID}s1" br-lan || return 1
    mkdir -p "$sshare/out"
    cp "$HERE/guest/guest-main.sh" "$sshare/"; chmod +x "$sshare/guest-main.sh"
    ROLE=server IPSEC_CONN=vpnconc-lns PSK=$VIT_PSK PPP_USER=$VIT_PPP_USER PPP_PASS=$VIT_PPP_PASS \
    POOL_START=$VIT_POOL_START POOL_END=$VIT_POOL_END LNS_LOCAL_IP=$VIT_LNS_LOCAL_IP \
      vit_render "$HERE/guest/server/etc" "$sshare/etc" IPSEC_CONN PSK PPP_USER PPP_PASS POOL_START POOL_END LNS_LOCAL_IP || return 1
    cp -r "$HERE/guest/common/etc/." "$sshare/etc/"
    cat > "$sshare/guest.env" <<EOF
ROLE=server
GUEST_NAME=ref-lns
GUEST_ADDRS="$VIT_SERVER_IP/24 $VIT_LNS_LOCAL_IP/24"
GUEST_GW=""
GUEST_FORWARD=1
IKE_DAEMON=strongswan
IPSEC_CONN=vpnconc-lns
EOF
    vit_guest_start server "$WAN" "$IMG" "$sshare" "$dir" \
      "vit${VIT_RUNID}s0:52:54:00:${VIT_RUNID:0:2}:01:00" "vit${VIT_RUNID}s1:52:54:00:${VIT_RUNID:0:2}:01:01"
    spid=$VIT_LAST_PID
    t_sq=$(date +%s)
  else
    local CONC; CONC=$(vit_nsname conc); vit_ns conc || return 1
    vit_veth "$WAN" cwanp "$CONC" cwan0 br-wan && vit_veth "$WAN" clanp "$CONC" clan0 br-lan || return 1
    local rc=0
    target_concentrator_start "$CONC" cwan0 clan0 "$dir/concentrator" || rc=$?
    if [ "$rc" = 2 ]; then sc_err "concentrator hook not implemented yet (targets.sh)"; return 2; fi
    [ "$rc" = 0 ] || { sc_err "concentrator failed to start (rc=$rc), see $dir/concentrator"; return 1; }
  fi

  # --- client side (boots in parallel with the server) ---
  local cshare="$dir/client-share" caddr cgw
  mkdir -p "$cshare/out"
  if [ "$SC_TOPO" != direct ]; then
    vit_ns nat || return 1
    vit_bridge "$WAN" br-home || return 1
    vit_veth "$WAN" natwp "$NAT" wan0 br-wan && vit_veth "$WAN" nathp "$NAT" home0 br-home || return 1
    ip -n "$NAT" addr add 198.18.0.20/24 dev wan0
    ip -n "$NAT" addr add 198.19.0.1/24 dev home0
    ip netns exec "$NAT" sysctl -qw net.ipv4.ip_forward=1
    if [ "$SC_TOPO" = nat-ports ]; then
      # Rewrite UDP source ports too (many home routers do): IKE leaves from
      # 4xxxx instead of 500/4500 and ESP-in-UDP must follow the mapping.
      ip netns exec "$NAT" iptables -t nat -A POSTROUTING -o wan0 -p udp -j MASQUERADE --to-ports 40000-49999 || return 1
    fi
    ip netns exec "$NAT" iptables -t nat -A POSTROUTING -o wan0 -j MASQUERADE || return 1
    vit_tap "$WAN" "vit${VIT_RUNID}c0" br-home || return 1
    caddr=198.19.0.2/24; cgw=198.19.0.1
  else
    vit_tap "$WAN" "vit${VIT_RUNID}c0" br-wan || return 1
    # %defaultroute needs a default route; the gateway need not exist since
    # the server is on-link.
    caddr=198.18.0.2/24; cgw=198.18.0.254
  fi
  cp "$HERE/guest/guest-main.sh" "$cshare/"; chmod +x "$cshare/guest-main.sh"
  local cpsk="$VIT_PSK" ipsec_timeout=60
  # Negative control: wrong PSK; a Main Mode responder cannot decrypt MM5
  # and stays silent, so cap the wait instead of sitting out retransmits.
  [ "$SC_EXPECT" = reject ] && { cpsk="not-$VIT_PSK"; ipsec_timeout=25; }
  IPSEC_CONN=vpnconc-l2tp SERVER_IP=$VIT_SERVER_IP PSK=$cpsk PPP_USER=$VIT_PPP_USER PPP_PASS=$VIT_PPP_PASS \
    CLIENT_IKE=$CLIENT_IKE CLIENT_ESP=$CLIENT_ESP CLIENT_IKE_LSW=$CLIENT_IKE_LSW CLIENT_ESP_LSW=$CLIENT_ESP_LSW \
    vit_render "$HERE/guest/client/etc" "$cshare/etc" IPSEC_CONN SERVER_IP PSK PPP_USER PPP_PASS CLIENT_IKE CLIENT_ESP || return 1
  if [ "$SC_CLIENT" = libreswan ]; then
    IPSEC_CONN=vpnconc-l2tp SERVER_IP=$VIT_SERVER_IP PSK=$cpsk CLIENT_IKE_LSW=$CLIENT_IKE_LSW CLIENT_ESP_LSW=$CLIENT_ESP_LSW \
      vit_render "$HERE/guest/client-libreswan/etc" "$cshare/etc" IPSEC_CONN SERVER_IP PSK CLIENT_IKE_LSW CLIENT_ESP_LSW || return 1
  else
    cp -r "$HERE/guest/common/etc/." "$cshare/etc/"
  fi
  cat > "$cshare/guest.env" <<EOF
ROLE=client
GUEST_NAME=client-$sc
GUEST_ADDRS="$caddr"
GUEST_GW="$cgw"
IKE_DAEMON=$SC_CLIENT
IPSEC_CONN=vpnconc-l2tp
IPSEC_TIMEOUT=$ipsec_timeout
LAN_HOST=$VIT_LAN_HOST
LAN_NET=$VIT_LAN_NET
IPERF_SECS=$IPERF_SECS
PING_COUNT=5
GO_TIMEOUT=240
EOF
  local cpid
  vit_guest_start client "$WAN" "$CIMG" "$cshare" "$dir" "vit${VIT_RUNID}c0:52:54:00:${VIT_RUNID:0:2}:02:00"
  cpid=$VIT_LAST_PID

  # --- wait for the server, then let the client dial ---
  if [ "$TARGET" = reference ]; then
    if ! vit_wait_serial "$dir/server.console" '^VPNCONC-READY' 240 "$spid" >/dev/null; then
      sc_err "reference server did not become ready (see $dir/server.console, $sshare/out)"; return 1
    fi
    t_sready=$(( $(date +%s) - t_sq ))
  fi
  touch "$cshare/go"
  vit_log "$sc: server ready after $(( $(date +%s) - t_start ))s, client dialing"

  if ! vit_wait_serial "$dir/client.console" '^VPNCONC-DONE' 300 "$cpid" >/dev/null; then
    sc_err "client did not finish (see $dir/client.console, $cshare/out)"
    grep -a '^VPNCONC-RESULT' "$dir/client.console" | sc_err "$(cat)"
    return 1
  fi

  # --- server-side view (reference only) ---
  local sres=""
  if [ "$TARGET" = reference ]; then
    touch "$sshare/dump-request"
    vit_wait_serial "$dir/server.console" '^VPNCONC-DUMPED' 30 "$spid" >/dev/null
    sres=$(grep -a '^VPNCONC-RESULT role=server' "$dir/server.console" | tail -1)
  else
    target_concentrator_stop "$dir/concentrator" || true
  fi

  # --- verdict ---
  local res; res=$(grep -a '^VPNCONC-RESULT' "$dir/client.console" | tr -d '\r')
  echo "$res" > "$dir/client-results.txt"
  local errs=() v
  if [ "$SC_EXPECT" = reject ]; then
    [ "$(vit_field "$res" ipsec)" = fail ] || errs+=("ipsec=$(vit_field "$res" ipsec) with a wrong PSK (want fail)")
    [ -z "$(vit_field "$res" ppp)" ] || errs+=("ppp=$(vit_field "$res" ppp) with a wrong PSK")
    if [ "$TARGET" = reference ]; then
      v=$(vit_field "$sres" xfrm_states); [ "$v" = 0 ] || errs+=("server installed $v SAs with a wrong PSK")
    fi
    SC_DETAIL="client ipsec=$(vit_field "$res" ipsec) after $(vit_field "$res" t_ipsec)s, server SAs=$(vit_field "$sres" xfrm_states) wall=$(( $(date +%s) - t_start ))s"
    [ ${#errs[@]} = 0 ] && return 0
    printf '%s\n' "${errs[@]}" >> "$SC_ERRS"; return 1
  fi
  v=$(vit_field "$res" error)
  # Report the first broken layer only: nothing after it could work.
  if [ "$(vit_field "$res" ipsec)" != ok ]; then
    echo "ipsec=$(vit_field "$res" ipsec) (t_ipsec=$(vit_field "$res" t_ipsec)s) guest error=$v" >> "$SC_ERRS"; return 1
  fi
  if [ "$(vit_field "$res" ppp)" != ok ]; then
    echo "ipsec ok but ppp=$(vit_field "$res" ppp) (t_ppp=$(vit_field "$res" t_ppp)s) guest error=$v" >> "$SC_ERRS"; return 1
  fi
  v=$(vit_field "$res" ike); [ "$v" = "$EXPECT_IKE" ] || errs+=("ike=$v (want $EXPECT_IKE)")
  v=$(vit_field "$res" esp); [ "$v" = "$EXPECT_ESP" ] || errs+=("esp=$v (want $EXPECT_ESP)")
  v=$(vit_field "$res" natt)
  if [ "$SC_TOPO" != direct ]; then [ "$v" = yes ] || errs+=("natt=$v (want yes: ESP in UDP 4500)")
  else [ "$v" = no ] || errs+=("natt=$v (want no)"); fi
  [ "$(vit_field "$res" ppp)" = ok ] || errs+=("ppp=$(vit_field "$res" ppp)")
  local addr; addr=$(vit_field "$res" addr)
  case "$addr" in 192.168.0.[1-9]|192.168.0.[12][0-9]|192.168.0.3[01]) ;; *) errs+=("addr=$addr not in pool") ;; esac
  v=$(vit_field "$res" mtu); [ "$v" = 1400 ] || errs+=("mtu=$v (want 1400)")
  v=$(vit_field "$res" dns); [ "$v" = "$VIT_LNS_LOCAL_IP" ] || errs+=("dns=$v (want $VIT_LNS_LOCAL_IP)")
  v=$(vit_field "$res" ping); [ "$v" = 5/5 ] || errs+=("ping=$v")
  v=$(echo "$res" | tr ' ' '\n' | sed -n 's/^ping_mtu_[0-9]*=//p' | tail -1); [ "$v" = ok ] || errs+=("ping_mtu=$v")
  local up down; up=$(vit_field "$res" iperf_up_mbps); down=$(vit_field "$res" iperf_down_mbps)
  if [ "$IPERF_SECS" -gt 0 ]; then
    [ -n "$up" ] && [ "$up" != none ] || errs+=("iperf up failed")
    [ -n "$down" ] && [ "$down" != none ] || errs+=("iperf down failed")
  fi
  v=$(vit_field "$res" esp_packets); [ "${v:-0}" -gt 10 ] 2>/dev/null || errs+=("esp_packets=$v")
  v=$(vit_field "$res" error); [ -z "$v" ] || errs+=("guest error=$v")
  if [ "$TARGET" = reference ]; then
    case ",$(vit_field "$sres" ppp_peers)," in *",$addr/32,"*|*",$addr,"*) ;;
      *) errs+=("server sees ppp peers '$(vit_field "$sres" ppp_peers)', not $addr") ;; esac
  fi
  if [ "$TARGET" = reference ]; then
    # Server's SA encapsulation ports "sport:dport": 4500 on the client side
    # behind plain MASQUERADE, a rewritten port behind nat-ports.
    v=$(vit_field "$sres" encap)
    case "$SC_TOPO" in
      direct) [ "$v" = none ] || errs+=("server SAs UDP-encapsulated ($v) without NAT") ;;
      nat) [[ "$v" =~ ^(4500:4500,?)+$ ]] || errs+=("server encap ports $v (want 4500:4500)") ;;
      nat-ports) [[ "$v" =~ 4500:4[0-9]{4} ]] && ! [[ "$v" =~ 4500:4500 ]] || errs+=("server encap ports $v (want 4500:40000-49999)") ;;
    esac
  fi
  grep -a -q '^VPNCONC-DONE status=pass' "$dir/client.console" || errs+=("client reported failure")

  local cboot sboot
  cboot=$(grep -a -m1 '^VPNCONC-STAGE booted' "$dir/client.console" | sed 's/.*uptime=//')
  sboot=$(grep -a -m1 '^VPNCONC-STAGE booted' "$dir/server.console" 2>/dev/null | sed 's/.*uptime=//')
  SC_DETAIL="boot(guest uptime) client=${cboot:-?}s server=${sboot:-n/a}s server_ready(wall from QEMU start)=${t_sready}s ipsec=$(vit_field "$res" t_ipsec)s ppp=$(vit_field "$res" t_ppp)s connect=$(vit_field "$res" t_connect)s addr=$addr ping=$(vit_field "$res" ping) rtt=$(vit_field "$res" rtt_ms)ms iperf up=${up:-n/a} down=${down:-n/a} Mbit/s esp_pkts=$(vit_field "$res" esp_packets) natt=$(vit_field "$res" natt) server_encap=$(vit_field "$sres" encap) wall=$(( $(date +%s) - t_start ))s"
  if [ ${#errs[@]} -gt 0 ]; then
    printf '%s\n' "${errs[@]}" >> "$SC_ERRS"
    return 1
  fi
  return 0
}

for sc in "${SCENARIOS[@]}"; do
  vit_log "scenario $sc against $TARGET: logs in $OUTROOT/$sc"
  SC_DETAIL=""
  mkdir -p "$OUTROOT/$sc"; SC_ERRS="$OUTROOT/$sc/errors.txt"; : > "$SC_ERRS"
  run_scenario "$sc"; rc=$?
  out=$(cat "$SC_ERRS")
  scenario_info "$sc"; num=$SC_NUM
  if [ $rc = 0 ]; then
    echo "PASS scenario $num ($sc) vs $TARGET: $SC_DETAIL"
    PASSED=$((PASSED+1))
  elif [ $rc = 2 ]; then
    echo "SKIP scenario $num ($sc) vs $TARGET: $out"
    SKIPPED=$((SKIPPED+1))
  else
    echo "FAIL scenario $num ($sc) vs $TARGET: $(echo "$out" | paste -sd';' -) ${SC_DETAIL:+[$SC_DETAIL]} logs: $OUTROOT/$sc"
    FAILEDN=$((FAILEDN+1))
  fi
  vit_cleanup
done
vit_log "logs in $OUTROOT"
summary_and_exit
