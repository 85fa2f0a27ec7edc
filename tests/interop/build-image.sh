#!/bin/bash
# Build (or reuse) the Debian 12 guest image for the interop harness.
#
#   tests/interop/build-image.sh [--variant strongswan|libreswan] [--print-dir] [--force]
#
# Output (cached outside the repo, keyed by a hash of this script, the guest
# stub init and the package list, so an edit to any of them rebuilds):
#   $VPNCONC_IMAGE_CACHE/<variant>-<hash>/{rootfs.ext4,vmlinuz,initrd.img,packages.txt}
# (the bare debootstrap tree is cached too, as base-minbase-bookworm-*.tar,
# shared by all variants; delete it to start from a fresh debootstrap).
# The last line printed on stdout is that directory.
#
# How: `debootstrap --variant=minbase bookworm`, then apt-get inside a chroot
# (with a policy-rc.d so no daemon starts at build time), an initramfs that
# only carries virtio/ext4 (MODULES=list: smaller and faster to unpack under
# TCG), and `mke2fs -d` to turn the tree into an ext4 image without loop
# mounts. Guests boot it with -kernel/-initrd and `-drive ...,snapshot=on`, so
# any number of guests share one read-only image.
#
# The image has no init system: /sbin/vpnconc-init (guest/init-stub.sh)
# mounts a 9p share and runs the scenario script from it. That boots in
# about half the time of systemd under TCG.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${VPNCONC_IMAGE_CACHE:-/var/cache/vpnconc-interop}"
VARIANT=strongswan
PRINT_DIR_ONLY=0
FORCE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --variant) VARIANT="$2"; shift 2 ;;
    --print-dir) PRINT_DIR_ONLY=1; shift ;;
    --force) FORCE=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "build-image: unknown argument $1" >&2; exit 2 ;;
  esac
done

COMMON_PKGS="linux-image-amd64 initramfs-tools xl2tpd ppp iproute2 iputils-ping
iperf3 tcpdump iptables kmod procps"
case "$VARIANT" in
  # libstrongswan-standard-plugins brings the openssl plugin: ECP384/ECP256
  # from the Windows 11 proposal list need it (debootstrap/apt here install
  # no Recommends).
  strongswan) VARIANT_PKGS="strongswan-starter strongswan-charon libstrongswan-standard-plugins" ;;
  # Debian 12 ships libreswan 4.10, which Conflicts: strongswan-starter, so it
  # gets its own image. (4.x still accepts IKEv1 by default; 5.x needs
  # ikev1-policy=accept.)
  libreswan) VARIANT_PKGS="libreswan" ;;
  *) echo "build-image: unknown variant $VARIANT" >&2; exit 2 ;;
esac
PKGS="$(echo $COMMON_PKGS $VARIANT_PKGS | tr ' ' '\n' | sort -u | tr '\n' ' ')"

HASH="$( { cat "$0" "$HERE/guest/init-stub.sh"; echo "$PKGS"; } | sha256sum | cut -c1-16)"
OUT="$CACHE/$VARIANT-$HASH"

if [ "$PRINT_DIR_ONLY" = 1 ]; then echo "$OUT"; exit 0; fi

log() { echo "build-image: $*" >&2; }

if [ "$FORCE" = 0 ] && [ -f "$OUT/rootfs.ext4" ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initrd.img" ]; then
  log "cached image $OUT"
  echo "$OUT"
  exit 0
fi

[ "$(id -u)" = 0 ] || { log "must run as root (debootstrap, chroot)"; exit 1; }

# Host dependencies, idempotently.
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v mke2fs >/dev/null || need+=(e2fsprogs)
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v iptables >/dev/null || need+=(iptables)
if [ ${#need[@]} -gt 0 ]; then
  log "installing host packages: ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2; }
fi

# Same mirror as the host's apt configuration.
MIRROR="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -1)"
[ -n "$MIRROR" ] || MIRROR="$(awk '$1=="deb" && $3 ~ /bookworm$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
[ -n "$MIRROR" ] || MIRROR="http://deb.debian.org/debian"

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -w 1800 9 || { log "timed out waiting for another build"; exit 1; }
# Another process may have built it while we waited for the lock.
if [ "$FORCE" = 0 ] && [ -f "$OUT/rootfs.ext4" ]; then log "cached image $OUT"; echo "$OUT"; exit 0; fi

# Leftovers of an interrupted build (we hold the lock: none is running).
rm -rf "$CACHE"/.build-*
WORK="$CACHE/.build-$VARIANT-$$"
ROOT="$WORK/root"
MOUNTED=()
cleanup() {
  local m
  for ((i=${#MOUNTED[@]}-1; i>=0; i--)); do umount -l "${MOUNTED[$i]}" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
rm -rf "$WORK"; mkdir -p "$ROOT"

T0=$(date +%s)
# The bare minbase tree is the slow part (1-6 min depending on load) and the
# same for every variant and every edit of this script: keep it as a tar.
BASE_TAR="$CACHE/base-minbase-bookworm-$(echo "$MIRROR" | sha256sum | cut -c1-8).tar"
if [ -f "$BASE_TAR" ]; then
  log "minbase tree from $BASE_TAR"
  tar -C "$ROOT" -xpf "$BASE_TAR"
else
  log "debootstrap minbase bookworm from $MIRROR"
  debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 \
    || { tail -30 "$WORK/debootstrap.log" >&2; exit 1; }
  rm -rf "$ROOT/var/cache/apt/archives/"*.deb
  tar -C "$ROOT" -cpf "$BASE_TAR.tmp" . && mv "$BASE_TAR.tmp" "$BASE_TAR"
fi
T1=$(date +%s)

for m in proc sys dev dev/pts; do
  mkdir -p "$ROOT/$m"
  case $m in
    proc) mount -t proc proc "$ROOT/proc" ;;
    sys) mount -t sysfs sysfs "$ROOT/sys" ;;
    *) mount --bind "/$m" "$ROOT/$m" ;;
  esac
  MOUNTED+=("$ROOT/$m")
done

# No daemon may start inside the build chroot.
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
chmod +x "$ROOT/usr/sbin/policy-rc.d"
# Keep docs/man/locales out (smaller image, faster mke2fs).
cat > "$ROOT/etc/dpkg/dpkg.cfg.d/01-vpnconc-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/info/*
EOF
# Initramfs only needs to find the root disk; everything else is modprobed
# by the guest script after switch_root.
mkdir -p "$ROOT/etc/initramfs-tools/conf.d"
echo "MODULES=list" > "$ROOT/etc/initramfs-tools/conf.d/vpnconc.conf"
echo "COMPRESS=gzip" >> "$ROOT/etc/initramfs-tools/conf.d/vpnconc.conf"
printf '%s\n' virtio_pci virtio_blk ext4 > "$ROOT/etc/initramfs-tools/modules"

log "apt-get install in chroot: $PKGS"
chroot "$ROOT" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
  sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends $PKGS" \
  > "$WORK/apt.log" 2>&1 || { tail -40 "$WORK/apt.log" >&2; exit 1; }
T2=$(date +%s)

chroot "$ROOT" dpkg-query -W -f '${Package} ${Version}\n' > "$WORK/packages.txt"
chroot "$ROOT" apt-get clean

# Guest plumbing: stub init, hostname, no root password prompt anywhere.
install -m 0755 "$HERE/guest/init-stub.sh" "$ROOT/sbin/vpnconc-init"
echo vpnconc-guest > "$ROOT/etc/hostname"
# Daemons' stock configs are replaced per boot from the 9p share; drop the
# stock files that would otherwise be loaded (e.g. xl2tpd's sample LNS).
rm -f "$ROOT/usr/sbin/policy-rc.d"
rm -rf "$ROOT/var/lib/apt/lists/"* "$ROOT/var/cache/apt/"*.bin

KVER="$(ls "$ROOT/lib/modules" | sort -V | tail -1)"
log "kernel $KVER; regenerating initramfs (MODULES=list)"
chroot "$ROOT" update-initramfs -c -k "$KVER" > "$WORK/initramfs.log" 2>&1 \
  || chroot "$ROOT" update-initramfs -u -k "$KVER" >> "$WORK/initramfs.log" 2>&1 \
  || { tail -20 "$WORK/initramfs.log" >&2; exit 1; }

for ((i=${#MOUNTED[@]}-1; i>=0; i--)); do umount -l "${MOUNTED[$i]}"; done
MOUNTED=()

STAGE="$WORK/out"; mkdir -p "$STAGE"
cp "$ROOT/boot/vmlinuz-$KVER" "$STAGE/vmlinuz"
cp "$ROOT/boot/initrd.img-$KVER" "$STAGE/initrd.img"
cp "$WORK/packages.txt" "$STAGE/packages.txt"
rm -f "$ROOT/boot/initrd.img-$KVER"   # not needed inside the guest

USED_MB=$(du -sm "$ROOT" | cut -f1)
SIZE_MB=$(( USED_MB + USED_MB / 4 + 256 ))
log "mke2fs -d (${USED_MB} MiB used, image ${SIZE_MB} MiB)"
mke2fs -q -t ext4 -L vpnroot -E root_owner=0:0 -d "$ROOT" "$STAGE/rootfs.ext4" "${SIZE_MB}M" >&2
T3=$(date +%s)
printf 'debootstrap_s=%d apt_s=%d finish_s=%d total_s=%d kernel=%s\n' \
  $((T1-T0)) $((T2-T1)) $((T3-T2)) $((T3-T0)) "$KVER" > "$STAGE/build-times.txt"
log "$(cat "$STAGE/build-times.txt")"

rm -rf "$OUT"
mv "$STAGE" "$OUT"
# Drop superseded builds of this variant (a guest still running from one
# keeps its open files; new guests use the new image).
find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name "$VARIANT-*" ! -name "$VARIANT-$HASH" -exec rm -rf {} +
echo "$OUT"
