#!/usr/bin/env bash
# System tests: both real binaries (vpn-dataplane on af_packet ports, and
# vpn-controlplane) in network namespaces this script creates, driven from a
# "WAN" and a "LAN" namespace. tests/system/run.sh BUILD_DIR [filter]
set -u
BUILD=$(realpath "${1:?usage: run.sh BUILD_DIR [filter]}")
HERE=$(dirname "$(realpath "$0")")
if [[ $(id -u) -ne 0 ]]; then echo "system: 0 passed, 0 failed, 1 skipped (needs root)"; exit 0; fi
exec timeout 1200 /usr/bin/python3 "$HERE/system_test.py" "$BUILD" "${2:-}"
