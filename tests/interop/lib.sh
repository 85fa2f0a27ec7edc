# shellcheck shell=bash
# Host-side helpers of the interop harness: namespaces, bridges, taps, QEMU
# guests, serial-console waits, and cleanup that always runs.
# Sourced by run.sh; every function is prefixed vit_ ("vpnconc interop test").
#
# Network rule (team brief): all traffic stays between namespaces and guests
# created here. "Public" links use 198.18.0.0/15; 192.168.0.x exists only
# inside the LAN namespace and the guests. Nothing is routed or addressed in
# the root namespace: QEMU runs inside the switch namespace that holds its taps.

VIT_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export VIT_HERE   # used by targets.sh
VIT_RUNID="$(printf '%04x' $(( $$ % 65536 )))"
VIT_PIDS=()        # processes we started (QEMU, iperf3, ...): killed by PID
VIT_NETNS=()       # namespaces we created: deleted at cleanup

vit_log() { echo "[interop $(date +%H:%M:%S)] $*" >&2; }

# ---- cleanup -------------------------------------------------------------------
vit_track_pid() { VIT_PIDS+=("$1"); }
# Forget a PID once it has been reaped (so a later cleanup never signals a
# recycled PID).
vit_untrack_pid() {
  local p keep=()
  for p in "${VIT_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  VIT_PIDS=("${keep[@]}")
}

vit_kill_pid() {
  local pid="$1"
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}

vit_cleanup() {
  local pid ns
  for pid in "${VIT_PIDS[@]}"; do vit_kill_pid "$pid"; done
  VIT_PIDS=()
  for ns in "${VIT_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  VIT_NETNS=()
}

# Install once per run.sh: cleanup on normal exit, error and Ctrl-C.
vit_install_traps() {
  trap 'vit_cleanup' EXIT
  trap 'vit_log "interrupted: cleaning up"; vit_cleanup; exit 130' INT TERM HUP
}

# ---- namespaces and links --------------------------------------------------------
# vit_nsname NAME -> full name vit<runid>-NAME; vit_ns NAME creates it.
# (No command substitution around vit_ns: it must record the namespace in
# this shell for cleanup.)
vit_nsname() { echo "vit${VIT_RUNID}-$1"; }
vit_ns() {
  local ns="vit${VIT_RUNID}-$1"
  ip netns add "$ns" || return 1
  VIT_NETNS+=("$ns")
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=0
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
}

# vit_bridge NS BR: an L2 segment (no address, no STP delay).
vit_bridge() {
  ip -n "$1" link add "$2" type bridge forward_delay 0 stp_state 0 &&
  ip -n "$1" link set "$2" up
}

# vit_tap NS TAP BR: a tap for a QEMU NIC, plugged into bridge BR.
vit_tap() {
  ip -n "$1" tuntap add dev "$2" mode tap &&
  ip -n "$1" link set "$2" master "$3" up
}

# vit_veth NS_A IF_A NS_B IF_B [BR_IN_A]: veth between two namespaces; the
# A end is optionally plugged into bridge BR_IN_A.
vit_veth() {
  ip link add name "$2" netns "$1" type veth peer name "$4" netns "$3" || return 1
  ip -n "$1" link set "$2" up
  ip -n "$3" link set "$4" up
  if [ -n "${5:-}" ]; then ip -n "$1" link set "$2" master "$5"; fi
}

# ---- templates ---------------------------------------------------------------------
# vit_render SRC_DIR DST_DIR VAR...: copy a tree, replacing @VAR@ by $VAR.
vit_render() {
  local src="$1" dst="$2"; shift 2
  local f rel v expr=()
  for v in "$@"; do expr+=(-e "s|@${v}@|${!v}|g"); done
  (cd "$src" && find . -type f) | while read -r rel; do
    f="$dst/${rel#./}"
    mkdir -p "$(dirname "$f")"
    sed "${expr[@]}" "$src/$rel" > "$f"
    if grep -q '@[A-Z_]*@' "$f"; then
      vit_log "unrendered placeholder in $f: $(grep -o '@[A-Z_]*@' "$f" | head -1)"; return 1
    fi
  done
}

# ---- QEMU ---------------------------------------------------------------------------
# Can this machine run a TCG guest at all? (root, tun, netns, qemu starts)
vit_qemu_usable() {
  [ "$(id -u)" = 0 ] || { echo "not root"; return 1; }
  command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 missing"; return 1; }
  [ -c /dev/net/tun ] || { echo "/dev/net/tun missing"; return 1; }
  local probe="vit${VIT_RUNID}-probe"
  ip netns add "$probe" 2>/dev/null || { echo "cannot create network namespaces"; return 1; }
  ip netns del "$probe"
  local rc=0
  timeout 10 qemu-system-x86_64 -accel tcg -M q35 -nodefaults -display none \
    -monitor none -S >/dev/null 2>&1 </dev/null || rc=$?
  # 124 = still running when timeout hit: QEMU started fine.
  [ "$rc" = 124 ] || { echo "qemu-system-x86_64 -accel tcg exits with $rc"; return 1; }
}

# vit_guest_start NAME NS IMAGE_DIR SHARE_DIR LOG_DIR NIC...
#   NIC = TAP:MAC. Boots the image with direct kernel boot, root snapshot,
#   9p share "cfg", serial to LOG_DIR/NAME.console. Sets VIT_LAST_PID to the
#   QEMU PID (call it directly, not in $(...), so the PID is tracked here).
vit_guest_start() {
  local name="$1" ns="$2" img="$3" share="$4" logdir="$5"; shift 5
  local args=() n=0 nic tap mac
  for nic in "$@"; do
    tap="${nic%%:*}"; mac="${nic#*:}"
    args+=(-netdev "tap,id=n$n,ifname=$tap,script=no,downscript=no"
           -device "virtio-net-pci,netdev=n$n,mac=$mac")
    n=$((n+1))
  done
  ip netns exec "$ns" qemu-system-x86_64 \
    -name "vpnconc-$name" \
    -accel tcg,thread=multi -cpu max -smp 1 -m "${VIT_GUEST_MEM:-512}" \
    -nodefaults -nographic -monitor none -no-reboot \
    -serial "file:$logdir/$name.console" \
    -kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
    -append "console=ttyS0 root=/dev/vda rw init=/sbin/vpnconc-init quiet panic=-1 no_timer_check mitigations=off edd=off net.ifnames=0" \
    -drive "file=$img/rootfs.ext4,if=virtio,format=raw,snapshot=on" \
    -virtfs "local,path=$share,mount_tag=cfg,security_model=none,id=cfg" \
    -device virtio-rng-pci \
    "${args[@]}" \
    </dev/null >"$logdir/$name.qemu.log" 2>&1 &
  VIT_LAST_PID=$!
  vit_track_pid "$VIT_LAST_PID"
}

# vit_wait_serial CONSOLE REGEX TIMEOUT_S [PID]: first matching line, or
# return 1 on timeout / when PID (the guest's QEMU) has exited.
vit_wait_serial() {
  local console="$1" re="$2" timeout="$3" pid="${4:-}" line deadline
  deadline=$(( $(date +%s) + timeout ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    line=$(grep -a -m1 -E "$re" "$console" 2>/dev/null | tr -d '\r')
    if [ -n "$line" ]; then echo "$line"; return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      line=$(grep -a -m1 -E "$re" "$console" 2>/dev/null | tr -d '\r')
      [ -n "$line" ] && { echo "$line"; return 0; }
      return 1
    fi
    sleep 0.2   # a grep of a console log is cheap; every wait gains ~0.15 s on average
  done
  return 1
}

# vit_field "LINES" KEY: value of KEY=... in the RESULT lines (last wins).
vit_field() {
  echo "$1" | tr -d '\r' | tr ' ' '\n' | sed -n "s/^$2=//p" | tail -1
}
