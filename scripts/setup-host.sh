#!/usr/bin/env bash
# Host preparation for vpn-dataplane on a bare-metal box with Intel NICs,
# built on DPDK's own tools from the Debian dpdk package:
#   dpdk-hugepages.py  reserve and mount hugepages
#   dpdk-devbind.py    bind the NICs to vfio-pci (or igb_uio/uio_pci_generic)
#
#   setup-host.sh [--config FILE] [--dry-run] apply | status | undo
#
# FILE (default /etc/vpnconc/host.conf) is shell syntax:
#   HUGEPAGE_SIZE=2M            # 2M or 1G (1G needs the CPU flag pdpe1gb)
#   HUGEPAGE_TOTAL=2G           # per NUMA node listed below
#   HUGEPAGE_NODES="0"          # NUMA nodes the NICs and worker cores sit on
#   HUGEPAGE_MOUNT=/dev/hugepages
#   NIC_DRIVER=vfio-pci         # vfio-pci needs the IOMMU on (intel_iommu=on)
#   NICS="0000:3b:00.0 0000:3b:00.1"   # PCI addresses, as in [[port]] device
#   NIC_FORCE=0                 # 1: bind even if Linux has routes on the NIC
# --dry-run prints the commands instead of running them (tests, review).
set -euo pipefail

CONFIG=/etc/vpnconc/host.conf
DRY=0
ACTION=
while (($#)); do
  case $1 in
    --config) CONFIG=${2:?--config needs a file}; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    apply|status|undo) ACTION=$1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "setup-host: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n $ACTION ]] || { echo "usage: setup-host.sh [--config FILE] [--dry-run] apply|status|undo" >&2; exit 2; }

HUGEPAGE_SIZE=2M HUGEPAGE_TOTAL=1G HUGEPAGE_NODES=0 HUGEPAGE_MOUNT=/dev/hugepages
NIC_DRIVER=vfio-pci NICS= NIC_FORCE=0
if [[ -f $CONFIG ]]; then
  # shellcheck source=/dev/null
  . "$CONFIG"
elif [[ $ACTION != status ]]; then
  echo "setup-host: $CONFIG not found" >&2; exit 1
fi

HUGEPAGES=${DPDK_HUGEPAGES:-dpdk-hugepages.py}
DEVBIND=${DPDK_DEVBIND:-dpdk-devbind.py}

run() {
  if ((DRY)); then printf '%s\n' "$*"; else "$@"; fi
}

check_values() {
  [[ $HUGEPAGE_SIZE =~ ^(2M|1G)$ ]] || { echo "setup-host: HUGEPAGE_SIZE must be 2M or 1G" >&2; exit 1; }
  [[ $HUGEPAGE_TOTAL =~ ^[0-9]+[KMG]$ ]] || { echo "setup-host: HUGEPAGE_TOTAL like 2G" >&2; exit 1; }
  [[ $NIC_DRIVER =~ ^(vfio-pci|igb_uio|uio_pci_generic)$ ]] || {
    echo "setup-host: NIC_DRIVER must be vfio-pci, igb_uio or uio_pci_generic" >&2; exit 1; }
  local n
  for n in $NICS; do
    [[ $n =~ ^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$ ]] || {
      echo "setup-host: $n is not a PCI address (dddd:bb:dd.f)" >&2; exit 1; }
  done
}

apply() {
  check_values
  # Hugepages: clear, unmount, reserve on each node, mount (--setup does all
  # four for the first node; further nodes only reserve).
  local first=1 node
  for node in $HUGEPAGE_NODES; do
    if ((first)); then
      run "$HUGEPAGES" --pagesize "$HUGEPAGE_SIZE" --node "$node" --directory "$HUGEPAGE_MOUNT" \
        --setup "$HUGEPAGE_TOTAL"
      first=0
    else
      run "$HUGEPAGES" --pagesize "$HUGEPAGE_SIZE" --node "$node" --reserve "$HUGEPAGE_TOTAL"
    fi
  done
  if [[ -n $NICS ]]; then
    run modprobe "$NIC_DRIVER"
    local force=()
    ((NIC_FORCE)) && force=(--force)
    # shellcheck disable=SC2086
    run "$DEVBIND" --bind="$NIC_DRIVER" "${force[@]}" $NICS
  fi
}

status() {
  run "$HUGEPAGES" --show
  run "$DEVBIND" --status-dev net
}

undo() {
  check_values
  if [[ -n $NICS ]]; then
    # Back to the kernel driver (ice/i40e/ixgbe find them again on rescan).
    # shellcheck disable=SC2086
    run "$DEVBIND" --unbind $NICS
  fi
  run "$HUGEPAGES" --directory "$HUGEPAGE_MOUNT" --unmount
  run "$HUGEPAGES" --clear
}

"$ACTION"
