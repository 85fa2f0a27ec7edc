# shellcheck shell=bash
# What the client guests dial. run.sh --target reference boots the reference
# LNS guest itself (see run_scenario); --target concentrator calls the hook
# below instead. THIS IS THE ONE PLACE TO FILL IN to run the interop
# scenarios against our own vpn-dataplane + vpn-controlplane.
#
# ---------------------------------------------------------------------------
# target_concentrator_start NS WAN_IF LAN_IF LOGDIR
#
# Called once per scenario, after the topology exists and before the client
# guest is told to dial. Arguments:
#   NS      network namespace created for the concentrator (vit<id>-conc);
#           it has no addresses and no routes: the DPDK process owns the
#           addresses below, the kernel in NS must not answer for them.
#   WAN_IF  veth in NS whose peer is on the public bridge br-wan
#           -> DPDK port 0: --vdev=net_af_packet0,iface=$WAN_IF
#              address $VIT_SERVER_IP (198.18.0.1/24); clients arrive from
#              198.18.0.2 (scenario direct) or 198.18.0.20:4500 behind NAT
#              (scenario nat).
#   LAN_IF  veth in NS whose peer is on the LAN bridge br-lan
#           -> DPDK port 1: --vdev=net_af_packet1,iface=$LAN_IF
#              address $VIT_LNS_LOCAL_IP (192.168.0.254/24) with proxy-ARP
#              for the pool; LAN host $VIT_LAN_HOST (192.168.0.100) pings and
#              runs iperf3 -s.
#   LOGDIR  directory for the concentrator's logs (create it).
# Parameters to put in the TOML (same as the reference server, seed 004):
#   $VIT_PSK (secret123), user $VIT_PPP_USER / $VIT_PPP_PASS (MS-CHAPv2),
#   pool $VIT_POOL_START-$VIT_POOL_END, DNS $VIT_LNS_LOCAL_IP, MTU 1400,
#   IKE aes256-sha1-modp2048, ESP aes128-sha1 transport, udp/1701.
# Contract:
#   - start both processes inside NS (`ip netns exec "$NS" timeout ...`),
#     in the background, with --no-pci and unique --file-prefix;
#   - register every PID with `vit_track_pid PID` (cleanup kills them by PID
#     on success, failure and Ctrl-C; it also deletes NS);
#   - return 0 once the control plane listens on udp/500, 4500 and the
#     dataplane ports are up; 1 on failure; 2 = "not implemented" (the
#     scenarios then report SKIP, not FAIL).
# Hints: hugepages (machine-facts.md): --in-memory or --no-huge -m 256; the
#   binaries are in build/ of the tree: "$VIT_HERE/../../build/...".
# ---------------------------------------------------------------------------
target_concentrator_start() {
  local ns="$1" wan_if="$2" lan_if="$3" logdir="$4"
  mkdir -p "$logdir"
  # TODO(lead): start vpn-dataplane and vpn-controlplane here, e.g.
  #   ip netns exec "$ns" timeout 600 "$bin/vpn-dataplane" --no-pci --in-memory \
  #     --file-prefix "vit$VIT_RUNID" --vdev "net_af_packet0,iface=$wan_if" \
  #     --vdev "net_af_packet1,iface=$lan_if" -- --config "$logdir/vpn.toml" \
  #     > "$logdir/dataplane.log" 2>&1 &
  #   vit_track_pid $!
  #   ... same for vpn-controlplane, then wait (bounded) for readiness.
  : "$ns" "$wan_if" "$lan_if"
  return 2
}

# target_concentrator_stop LOGDIR: called after the client finished, before
# cleanup; dump session state (show sessions, counters) into LOGDIR. The
# processes themselves are killed by vit_cleanup.
target_concentrator_stop() {
  : "$1"
  return 0
}
