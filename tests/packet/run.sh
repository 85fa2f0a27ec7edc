#!/bin/bash
# Packet tests: tests/packet/run.sh BUILD_DIR [name-filter]
# Creates a private network namespace (veth pairs live only there), runs the
# real vpn-dataplane on af_packet ports inside it, and removes it afterwards.
set -u
BUILD_DIR=$(realpath "${1:?usage: run.sh BUILD_DIR [filter]}")
FILTER=${2:-}
HERE=$(dirname "$(realpath "$0")")
NS="vpnpkt-$$"
if [ "$(id -u)" != 0 ]; then echo "packet: needs root (network namespaces)"; exit 77; fi
cleanup() {
  ip netns del "$NS" 2>/dev/null
  rm -rf /var/run/dpdk/vpnpkt$$* /dev/shm/vpnpkt$$* /tmp/vpnpkt$$*.toml
}
trap cleanup EXIT
ip netns add "$NS" || exit 1
ip netns exec "$NS" ip link set lo up
# /usr/bin/python3: the Debian interpreter that has python3-scapy.
timeout 900 ip netns exec "$NS" /usr/bin/python3 "$HERE/run_tests.py" "$BUILD_DIR" "$FILTER"
