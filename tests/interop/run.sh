#!/bin/bash
# Interop suite: stock Linux L2TP/IPsec clients (QEMU/TCG guests) against our
# concentrator (vpn-dataplane + vpn-controlplane on af_packet ports in
# network namespaces).
#
#   tests/interop/run.sh [--target concentrator] [--out DIR] [--iperf-secs N]
#                        [scenario...]
#
# Scenarios (default: 1 2, or $VPN_INTEROP_SCENARIOS; "all" = every one):
#   1  | direct       seed 004: strongSwan client on the public segment
#   2  | nat          the same behind a MASQUERADE namespace (NAT-T, port 4500 kept)
#   2b | nat-ports    behind a NAT that also rewrites UDP source ports
#   3  | two-clients  two guests behind one NAT at once (strongSwan + libreswan)
#   4  | libreswan    libreswan 4.10 client, NetworkManager-l2tp style
#   5  | failures     wrong PSK, wrong password, no common proposal
#   6  | cleartext    xl2tpd without IPsec: refused, counted
#   7  | rekey        reconnect 3 times, then phase 1+2 rekeys under iperf3
# What each proves: README.md. Every scenario asserts on the client's view
# (guest RESULT lines), ours (vpnctl --json) and a WAN-side capture.
#
# One strongSwan guest (and one libreswan guest when 3 or 4 runs) boots once
# and serves every scenario as a series of jobs (guest/client-jobs.sh); the
# concentrator restarts for each scenario (clean counters and logs).
#
# Output: PASS/FAIL/SKIP per scenario with its figures and wall time, then
#   interop: N passed, M failed[, K skipped]
# Exit 0 only if every scenario that ran passed. When QEMU cannot run here at
# all every scenario is a loud SKIP and the exit code is 0.
#
# Environment: VPNCONC_BUILD (build dir with the binaries), VPNCONC_IMAGE_DIR
# / VPNCONC_IMAGE_DIR_LIBRESWAN (prebuilt images), VIT_GUEST_MEM (MiB).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=targets.sh
. "$HERE/targets.sh"

OUTROOT=""
IPERF_SECS=4
SCENARIOS=()
add_sc() {
  case "$1" in
    1|direct) SCENARIOS+=(direct) ;;
    2|nat) SCENARIOS+=(nat) ;;
    2b|nat-ports) SCENARIOS+=(nat-ports) ;;
    3|two-clients) SCENARIOS+=(two-clients) ;;
    4|libreswan) SCENARIOS+=(libreswan) ;;
    5|failures) SCENARIOS+=(failures) ;;
    6|cleartext) SCENARIOS+=(cleartext) ;;
    7|rekey) SCENARIOS+=(rekey) ;;
    all) SCENARIOS+=(direct nat nat-ports two-clients libreswan failures cleartext rekey) ;;
    *) echo "run.sh: unknown scenario '$1'" >&2; exit 2 ;;
  esac
}
while [ $# -gt 0 ]; do
  case "$1" in
    --target|--target=*)
      t="${1#--target}"; t="${t#=}"; [ -n "$t" ] || { t="$2"; shift; }
      # The reference LNS guest (guest/server) is still used by
      # tests/clientsim/against-reference.sh; this suite targets our product.
      [ "$t" = concentrator ] || { echo "run.sh: only --target concentrator is supported" >&2; exit 2; }
      shift ;;
    --out) OUTROOT="$2"; shift 2 ;;
    --iperf-secs) IPERF_SECS="$2"; shift 2 ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) add_sc "$1"; shift ;;
  esac
done
if [ ${#SCENARIOS[@]} = 0 ]; then
  for s in ${VPN_INTEROP_SCENARIOS:-direct nat}; do add_sc "$s"; done
fi
OUTROOT="${OUTROOT:-/tmp/vpnconc-interop/run-$(date +%Y%m%d-%H%M%S)-$VIT_RUNID}"

sc_num() {
  case "$1" in direct) echo 1;; nat) echo 2;; nat-ports) echo 2b;; two-clients) echo 3;;
    libreswan) echo 4;; failures) echo 5;; cleartext) echo 6;; rekey) echo 7;; esac
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
  for s in "${SCENARIOS[@]}"; do echo "SKIP scenario $(sc_num "$s") ($s): $why"; SKIPPED=$((SKIPPED+1)); done
  summary_and_exit
}

# ---- can we run guests at all? ----------------------------------------------------
if [ "$(id -u)" = 0 ] && ! command -v qemu-system-x86_64 >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-system-x86 >/dev/null 2>&1 || true
fi
why=$(vit_qemu_usable) || skip_all "$why"
mkdir -p "$OUTROOT" || skip_all "cannot create $OUTROOT"
for tool in iperf3 iptables tcpdump jq; do
  command -v $tool >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q $tool >/dev/null 2>&1 || true
done
vit_install_traps
T_SUITE0=$(date +%s)

# ---- parameters shared by every scenario (seed 004) -----------------------------------
export VIT_SERVER_IP=198.18.0.1          # the concentrator's public address
export VIT_NAT_IP=198.18.0.20            # the NAT namespace's public address
export VIT_PSK=secret123
export VIT_PPP_USER=user-01 VIT_PPP_PASS=password123
export VIT_POOL_START=192.168.0.1 VIT_POOL_END=192.168.0.31
export VIT_LNS_LOCAL_IP=192.168.0.254    # gateway on the LAN and PPP local address
export VIT_LAN_NET=192.168.0.0/24
export VIT_LAN_HOST=192.168.0.100        # LAN namespace host (ping + iperf3 -s)
# Windows 11 IKE proposal list (seed 004) in strongSwan syntax, in Windows'
# order; ESP AES128-SHA1 as configured in seed 004.
CLIENT_IKE_DEFAULT="aes256-sha1-ecp384,aes128-sha1-ecp256,aes256-sha1-modp2048,3des-sha1-modp2048,3des-sha1-modp1024!"
CLIENT_ESP_DEFAULT="aes128-sha1!"
# libreswan syntax (no '!'), minus 3des-sha1-modp1024: libreswan 4.10
# refuses the whole conn with "IKE DH algorithm 'modp1024' is not supported".
CLIENT_IKE_LSW_DEFAULT="aes256-sha1-ecp384,aes128-sha1-ecp256,aes256-sha1-modp2048,3des-sha1-modp2048"
CLIENT_ESP_LSW_DEFAULT="aes128-sha1"
EXPECT_IKE="AES_CBC_256/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_2048"
EXPECT_ESP="AES_CBC_128/HMAC_SHA1_96"

# ---- images -----------------------------------------------------------------------------
declare -A IMGS=()
image() {
  local v="$1" t0 dir override
  [ -n "${IMGS[$v]:-}" ] && return 0
  t0=$(date +%s)
  override="VPNCONC_IMAGE_DIR_${v^^}"
  [ "$v" = strongswan ] && [ -z "${!override:-}" ] && override=VPNCONC_IMAGE_DIR
  if [ -n "${!override:-}" ]; then dir="${!override}"
  else dir=$("$HERE/build-image.sh" --variant "$v" 2> "$OUTROOT/build-image-$v.log" | tail -1); fi
  if [ -z "$dir" ] || [ ! -f "$dir/rootfs.ext4" ]; then
    vit_log "image $v: build FAILED, see $OUTROOT/build-image-$v.log"
    tail -20 "$OUTROOT/build-image-$v.log" >&2
    return 1
  fi
  IMGS[$v]="$dir"
  vit_log "image $v: $dir ($(( $(date +%s) - t0 ))s)"
}

# ---- topology (built once, kept for every scenario) -------------------------------------
#   ns wan: a pure switch (bridges + taps, no addresses, no forwarding; QEMU runs here)
#     br-wan  198.18.0.0/24 "public": guests' eth0 (.2 strongSwan, .3 libreswan),
#             NAT's wan0 .20, concentrator's cwan0 (ours: .1, owned by DPDK)
#     br-home 198.19.0.0/24 behind the NAT: guests' eth1 (.2, .3), NAT's home0 .1
#     br-lan  192.168.0.0/24: LAN host .100 (ns lan), concentrator's clan0 (.254)
#   ns nat:  MASQUERADE home0 -> wan0 (re-created per NAT scenario: fresh conntrack)
#   ns conc: cwan0/clan0, the DPDK af_packet ports (processes restart per scenario)
WAN=$(vit_nsname wan); LAN=$(vit_nsname lan); NAT=$(vit_nsname nat); CONC=$(vit_nsname conc)
setup_topology() {
  vit_ns wan && vit_ns lan && vit_ns conc || return 1
  vit_bridge "$WAN" br-wan && vit_bridge "$WAN" br-home && vit_bridge "$WAN" br-lan || return 1
  vit_veth "$WAN" lanp "$LAN" lan0 br-lan || return 1
  ip -n "$LAN" addr add "$VIT_LAN_HOST/24" dev lan0
  # A veth hands TCP/UDP to its peer with the checksum left for offload; a
  # DPDK af_packet port reads that frame raw. Put real checksums on the wire.
  ip netns exec "$LAN" ethtool -K lan0 tx off >/dev/null 2>&1 || true
  # Two iperf3 servers: scenario 3's clients run at the same time.
  local port
  for port in 5201 5202; do
    ip netns exec "$LAN" iperf3 -s -B "$VIT_LAN_HOST" -p $port > "$OUTROOT/iperf3-server-$port.log" 2>&1 &
    vit_track_pid $!
  done
  vit_veth "$WAN" cwanp "$CONC" cwan0 br-wan && vit_veth "$WAN" clanp "$CONC" clan0 br-lan || return 1
}

# nat_setup plain|ports: (re)create the NAT namespace. "ports" also maps UDP
# source ports to 40000-49999, as many home routers do.
nat_setup() {
  # The previous scenario's NAT box: delete its veths from the WAN side
  # first. Deleting one end removes the pair at once, whereas the ends
  # that go with a deleted namespace disappear later (the kernel tears
  # namespaces down asynchronously), and re-creating "natwp" meanwhile
  # fails with "File exists".
  ip -n "$WAN" link del natwp 2>/dev/null
  ip -n "$WAN" link del nathp 2>/dev/null
  ip netns del "$NAT" 2>/dev/null
  local i
  for i in $(seq 50); do  # bounded: 5 s
    ip -n "$WAN" link show natwp >/dev/null 2>&1 || ip -n "$WAN" link show nathp >/dev/null 2>&1 || break
    sleep 0.1
  done
  vit_ns nat || return 1
  vit_veth "$WAN" natwp "$NAT" wan0 br-wan && vit_veth "$WAN" nathp "$NAT" home0 br-home || return 1
  ip -n "$NAT" addr add "$VIT_NAT_IP/24" dev wan0
  ip -n "$NAT" addr add 198.19.0.1/24 dev home0
  ip netns exec "$NAT" sysctl -qw net.ipv4.ip_forward=1
  if [ "$1" = ports ]; then
    ip netns exec "$NAT" iptables -t nat -A POSTROUTING -o wan0 -p udp -j MASQUERADE --to-ports 40000-49999 || return 1
  fi
  ip netns exec "$NAT" iptables -t nat -A POSTROUTING -o wan0 -j MASQUERADE
}

# ---- guests --------------------------------------------------------------------------
# Guest "a": strongSwan image, public 198.18.0.2, home 198.19.0.2.
# Guest "b": libreswan image, public 198.18.0.3, home 198.19.0.3.
declare -A G_SHARE=() G_PID=() G_CONSOLE=() G_NEXT=() G_IKE=() G_IDX=() G_T0=() G_READY=()
boot_guest() {
  local g="$1" variant="$2" idx="$3"
  image "$variant" || return 1
  local share="$OUTROOT/guest-$g"
  mkdir -p "$share/out" "$share/jobs"
  cp "$HERE/guest/guest-main.sh" "$HERE/guest/client-jobs.sh" "$share/"
  chmod +x "$share/guest-main.sh" "$share/client-jobs.sh"
  cat > "$share/guest.env" <<EOF
ROLE=client
GUEST_NAME=client-$g
IKE_DAEMON=$variant
IPSEC_CONN=vpnconc-l2tp
LAN_HOST=$VIT_LAN_HOST
LAN_NET=$VIT_LAN_NET
GUEST_LIFETIME=3000
EOF
  vit_tap "$WAN" "vit${VIT_RUNID}${g}0" br-wan && vit_tap "$WAN" "vit${VIT_RUNID}${g}1" br-home || return 1
  vit_guest_start "$g" "$WAN" "${IMGS[$variant]}" "$share" "$OUTROOT" \
    "vit${VIT_RUNID}${g}0:52:54:00:${VIT_RUNID:0:2}:0${idx}:00" "vit${VIT_RUNID}${g}1:52:54:00:${VIT_RUNID:0:2}:0${idx}:01"
  G_SHARE[$g]="$share"; G_PID[$g]=$VIT_LAST_PID; G_CONSOLE[$g]="$OUTROOT/$g.console"
  G_NEXT[$g]=1; G_IKE[$g]=$variant; G_IDX[$g]=$idx; G_T0[$g]=$(date +%s); G_READY[$g]=""
}
# guest_ready G: wait (bounded) until the guest's job loop runs; 1 if it never does.
guest_ready() {
  local g="$1"
  [ -n "${G_PID[$g]:-}" ] || return 1
  [ -n "${G_READY[$g]}" ] && return 0
  vit_wait_serial "${G_CONSOLE[$g]}" '^VPNCONC-READY role=client' 600 "${G_PID[$g]}" >/dev/null || return 1
  # guest uptime at "booted" = kernel + init; the wall time since QEMU
  # started only means "boot" for the first guest anyone waited for
  G_READY[$g]=$(grep -a -m1 'STAGE booted' "${G_CONSOLE[$g]}" | tr -d '\r' | sed 's/.*uptime=//')
  vit_log "guest $g ready: guest uptime ${G_READY[$g]}s at boot end, $(( $(date +%s) - G_T0[$g] ))s since QEMU start"
}

# guests_settle: after a scenario (also a failed one) no job may still hold
# a guest: open every barrier of every job handed out and wait (bounded)
# until each guest's last job is done.
guests_settle() {
  local g n
  for g in "${!G_SHARE[@]}"; do
    for ((n = 1; n < G_NEXT[$g]; n++)); do
      [ -d "${G_SHARE[$g]}/jobs/$n" ] && touch "${G_SHARE[$g]}/jobs/$n/traffic" "${G_SHARE[$g]}/jobs/$n/release"
    done
    n=$(( G_NEXT[$g] - 1 ))
    [ "$n" -ge 1 ] || continue
    kill -0 "${G_PID[$g]}" 2>/dev/null || continue
    vit_wait_serial "${G_CONSOLE[$g]}" "^VPNCONC-JOBDONE job=$n([[:space:]]|\$)" 180 "${G_PID[$g]}" >/dev/null ||
      vit_log "guest $g: job $n did not finish its teardown"
  done
}

# shellcheck source=scenarios.sh
. "$HERE/scenarios.sh"

# ---- main ------------------------------------------------------------------------------
# (VIT_SOURCE_ONLY=1: stop here, for driving the pieces by hand while debugging)
[ "${VIT_SOURCE_ONLY:-0}" = 1 ] && return 0
need_b=0
for s in "${SCENARIOS[@]}"; do case "$s" in two-clients|libreswan) need_b=1 ;; esac; done
image strongswan || skip_all "the strongSwan guest image cannot be built (see $OUTROOT/build-image-strongswan.log)"
[ $need_b = 1 ] && { image libreswan || vit_log "libreswan image missing: scenarios 3 and 4 will fail"; }
setup_topology || { echo "FAIL: topology setup"; FAILEDN=${#SCENARIOS[@]}; summary_and_exit; }
# Both guests boot in parallel (each eats about one core under TCG while booting).
boot_guest a strongswan 2 || vit_log "guest a did not start"
[ $need_b = 1 ] && { boot_guest b libreswan 3 || vit_log "guest b did not start"; }

declare -A SC_WALL=()
for sc in "${SCENARIOS[@]}"; do
  num=$(sc_num "$sc")
  SC_DIR="$OUTROOT/$sc"; mkdir -p "$SC_DIR"
  SC_ERRS="$SC_DIR/errors.txt"; : > "$SC_ERRS"
  SC_DETAIL=""
  vit_log "scenario $num ($sc): logs in $SC_DIR"
  t0=$(date +%s)
  "sc_${sc//-/_}"; rc=$?
  [ -s "$SC_ERRS" ] && [ $rc = 0 ] && rc=1
  guests_settle
  conc_down
  wall=$(( $(date +%s) - t0 )); SC_WALL[$sc]=$wall
  if [ $rc = 0 ]; then
    echo "PASS scenario $num ($sc): $SC_DETAIL wall=${wall}s"
    PASSED=$((PASSED+1))
  else
    echo "FAIL scenario $num ($sc): $(paste -sd';' "$SC_ERRS") [$SC_DETAIL] wall=${wall}s logs: $SC_DIR"
    FAILEDN=$((FAILEDN+1))
  fi
done
for g in "${!G_SHARE[@]}"; do touch "${G_SHARE[$g]}/poweroff"; done
vit_log "suite wall $(( $(date +%s) - T_SUITE0 ))s; guests booted in (guest uptime): a=${G_READY[a]:-n/a}s b=${G_READY[b]:-n/a}s; per scenario: $(for s in "${SCENARIOS[@]}"; do printf '%s=%ss ' "$s" "${SC_WALL[$s]:-?}"; done)"
vit_log "logs in $OUTROOT"
summary_and_exit
