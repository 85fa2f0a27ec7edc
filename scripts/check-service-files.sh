#!/usr/bin/env bash
# Unit test of the deployment files (meson: ops_service_files):
#   - `systemd-analyze verify` of the three units, with the binaries pointed
#     at the build tree; any complaint naming one of our files fails;
#   - the restart contract: neither process unit may stop or restart the
#     other (no Requires=/BindsTo=/PartOf= between them), the control plane
#     is ordered after the dataplane, both restart on their own;
#   - scripts/setup-host.sh --dry-run turns a host.conf into the expected
#     dpdk-hugepages.py / dpdk-devbind.py commands and refuses bad values.
# check-service-files.sh SRC_DIR BUILD_DIR
set -uo pipefail
SRC=${1:?usage: check-service-files.sh SRC_DIR BUILD_DIR}
BUILD=${2:?usage: check-service-files.sh SRC_DIR BUILD_DIR}
TMP=$(mktemp -d /tmp/vpn-units.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
FAIL=0
fail() { echo "FAIL: $*"; FAIL=1; }

UNITS=(vpn-dataplane.service vpn-controlplane.service vpn-host-setup.service)
for u in "${UNITS[@]}"; do
  sed -e "s#/usr/bin/vpn-dataplane#$BUILD/dataplane/core/vpn-dataplane#" \
      -e "s#/usr/bin/vpn-controlplane#$BUILD/controlplane/app/vpn-controlplane#g" \
      -e "s#/usr/bin/vpnctl#$BUILD/controlplane/ctl/vpnctl#" \
      -e "s#/usr/lib/vpnconc/setup-host.sh#$SRC/scripts/setup-host.sh#" \
      "$SRC/scripts/systemd/$u" >"$TMP/$u"
done

if command -v systemd-analyze >/dev/null; then
  out=$(cd "$TMP" && timeout 60 systemd-analyze verify "${UNITS[@]/#/./}" 2>&1)
  rc=$?
  mine=$(grep -E "vpn-(dataplane|controlplane|host-setup)\.service" <<<"$out")
  [[ $rc -eq 0 ]] || fail "systemd-analyze verify exit $rc: $out"
  [[ -z $mine ]] || fail "systemd-analyze verify: $mine"
  # The check itself must be able to fail: a broken copy is reported.
  sed 's/^Type=simple/Type=bogus/' "$TMP/vpn-dataplane.service" >"$TMP/vpn-broken.service"
  bad=$(cd "$TMP" && timeout 60 systemd-analyze verify ./vpn-broken.service 2>&1)
  grep -q "vpn-broken.service" <<<"$bad" || fail "verify did not notice Type=bogus: $bad"
else
  echo "systemd-analyze not installed: verify skipped"
fi

key() { grep -E "^$2=" "$TMP/$1" | cut -d= -f2-; }
for k in Requires BindsTo PartOf Requisite; do
  key vpn-controlplane.service $k | grep -q vpn-dataplane && fail "controlplane $k= dataplane"
  key vpn-dataplane.service $k | grep -q vpn-controlplane && fail "dataplane $k= controlplane"
done
key vpn-controlplane.service After | grep -q vpn-dataplane.service || fail "controlplane not After= dataplane"
[[ $(key vpn-dataplane.service Restart) == on-failure ]] || fail "dataplane Restart= must be on-failure"
[[ $(key vpn-controlplane.service Restart) == always ]] || fail "controlplane Restart= must be always"
key vpn-controlplane.service ExecReload | grep -q "vpnctl.* reload" || fail "no ExecReload via vpnctl"

# setup-host.sh
cat >"$TMP/host.conf" <<'EOF'
HUGEPAGE_SIZE=1G
HUGEPAGE_TOTAL=4G
HUGEPAGE_NODES="0 1"
NICS="0000:3b:00.0 3b:00.1"
EOF
want=$'dpdk-hugepages.py --pagesize 1G --node 0 --directory /dev/hugepages --setup 4G
dpdk-hugepages.py --pagesize 1G --node 1 --reserve 4G
modprobe vfio-pci
dpdk-devbind.py --bind=vfio-pci 0000:3b:00.0 3b:00.1'
got=$("$SRC/scripts/setup-host.sh" --config "$TMP/host.conf" --dry-run apply 2>&1)
[[ $got == "$want" ]] || fail "setup-host apply:"$'\n'"$got"$'\n'"expected:"$'\n'"$want"
got=$("$SRC/scripts/setup-host.sh" --config "$TMP/host.conf" --dry-run undo 2>&1)
[[ $got == *"dpdk-devbind.py --unbind 0000:3b:00.0 3b:00.1"* && $got == *"--clear"* ]] ||
  fail "setup-host undo: $got"
for bad in 'NICS="eth0"' 'HUGEPAGE_SIZE=4M' 'NIC_DRIVER=ixgbe' 'HUGEPAGE_TOTAL=lots'; do
  echo "$bad" >"$TMP/bad.conf"
  if "$SRC/scripts/setup-host.sh" --config "$TMP/bad.conf" --dry-run apply >/dev/null 2>&1; then
    fail "setup-host accepted $bad"
  fi
done
bash -n "$SRC/scripts/setup-host.sh" || fail "setup-host.sh syntax"

if ((FAIL)); then exit 1; fi
echo "service files: OK"
