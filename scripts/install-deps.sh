#!/usr/bin/env bash
# Installs the Debian 12 packages the build and the tests need. Idempotent:
# only missing packages are installed. Needs root (apt-get).
set -euo pipefail

BUILD_PKGS=(build-essential meson ninja-build pkg-config python3
  libdpdk-dev dpdk libipsec-mb-dev libssl-dev libabsl-dev libgtest-dev libgmock-dev
  libtomlplusplus-dev libpcap-dev libnuma-dev)
TEST_PKGS=(python3-scapy python3-cryptography iproute2 iputils-ping tcpdump
  procps psmisc ethtool tshark dpdk-dev systemd freeradius freeradius-utils)
INTEROP_PKGS=(qemu-system-x86 qemu-utils debootstrap e2fsprogs iperf3 iptables)
# libFuzzer targets (tests/fuzz): clang 14 with its sanitizer/fuzzer runtimes.
FUZZ_PKGS=(clang-14 libclang-rt-14-dev)
# perf/run.sh: ipsec-secgw's source (the ESP-only peer) and the PNG plot.
PERF_PKGS=(dpdk-doc python3-matplotlib)

want=("${BUILD_PKGS[@]}")
case "${1:-build}" in
  build) ;;
  test) want+=("${TEST_PKGS[@]}") ;;
  perf) want+=("${PERF_PKGS[@]}") ;;
  all) want+=("${TEST_PKGS[@]}" "${INTEROP_PKGS[@]}" "${FUZZ_PKGS[@]}") ;;
  *) echo "usage: $0 [build|test|perf|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
