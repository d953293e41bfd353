#!/usr/bin/env bash
# Builds the lab's VM image (issue 16) into /var/cache/margay/vm, idempotently and under a lock:
#   vmlinux    the uncompressed kernel of Debian's linux-image-*-cloud-amd64 package (QEMU's microvm
#              machine boots PVH only from an ELF; the package's vmlinuz holds it LZ4-compressed)
#   udhcpc.script  the initramfs's DHCP hook, also used by the lab's stand-ins
#   initrd.gz  a busybox initramfs: the virtio modules, an init that takes its address by DHCP
#              (udhcpc), serves HTTP on port 80 and runs a shell on the serial console
# The .deb is unpacked with dpkg-deb, never installed. A no-op once built (stamp file).
# MARGAY_VM_CACHE overrides the folder.
set -euo pipefail
cache=${MARGAY_VM_CACHE:-/var/cache/margay/vm}
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

version=4   # bump when the initramfs recipe changes
kernel_pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kernel_pkg" ] || { echo "margay: no linux-image-*-cloud-amd64 package known to apt (run apt-get update)" >&2; exit 1; }
stamp="$kernel_pkg recipe-$version"
if [ -f "$cache/vmlinux" ] && [ -f "$cache/initrd.gz" ] && [ -f "$cache/udhcpc.script" ] && [ "$(cat "$cache/stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
for tool in lz4 gzip; do
  command -v $tool >/dev/null || { echo "margay: building the VM image needs $tool" >&2; exit 1; }
done
echo "margay: building the VM image from $kernel_pkg into $cache" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
kver=${kernel_pkg#linux-image-}
mkdir -p "$work/pkg/lib/modules/$kver"
if [ "$(cut -d' ' -f1 "$cache/stamp" 2>/dev/null)" = "$kernel_pkg" ] && [ -f "$cache/vmlinux" ] && [ -f "$cache/initrd.gz" ]; then
  # Only the initramfs recipe changed: the kernel and its modules (in the old initramfs) are reused,
  # no download needed.
  cp "$cache/vmlinux" "$work/vmlinux"
  ( cd "$work/pkg/lib/modules/$kver" && gzip -dc "$cache/initrd.gz" | /bin/busybox cpio -id 'lib/modules/*' 2>/dev/null )
else
  chown _apt "$work" 2>/dev/null || true   # apt downloads as _apt
  ( cd "$work" && apt-get download -q "$kernel_pkg" >/dev/null )
  dpkg-deb -x "$work"/*.deb "$work/pkg"
  vmlinuz="$work/pkg/boot/vmlinuz-$kver"
  # The bzImage's payload is an LZ4 legacy frame (magic 02 21 4c 18): cut from there and decompress.
  offset=$(grep -obUaP '\x02\x21\x4c\x18' "$vmlinuz" | head -1 | cut -d: -f1)
  [ -n "$offset" ] || { echo "margay: no LZ4 payload in $vmlinuz" >&2; exit 1; }
  tail -c +$((offset + 1)) "$vmlinuz" | lz4 -dc > "$work/vmlinux" 2>/dev/null || true
fi
[ "$(head -c 4 "$work/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || { echo "margay: the extracted kernel is not an ELF file" >&2; exit 1; }

# The initramfs.
root="$work/initramfs"
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,www,lib/modules,usr/bin,usr/sbin,usr/share/udhcpc}
cp /bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"; done
for m in virtio_ring virtio virtio_mmio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net; do
  ko=$(find "$work/pkg/lib/modules/$kver" -name "$m.ko*" | head -1)
  [ -n "$ko" ] || continue   # built in
  case "$ko" in
    *.xz) xz -dc "$ko" > "$root/lib/modules/$m.ko" ;;
    *.zst) zstd -dqc "$ko" > "$root/lib/modules/$m.ko" ;;
    *) cp "$ko" "$root/lib/modules/$m.ko" ;;
  esac
done
cat > "$root/init" <<'EOF'
#!/bin/sh
# Margay lab VM: modules, DHCP on eth0, HTTP on port 80, a shell on the serial console.
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_mmio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net; do
  [ -f /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko 2>/dev/null
done
hostname "$(sed -n 's/.*margay.name=\([^ ]*\).*/\1/p' /proc/cmdline)"
ip link set lo up; ip link set eth0 up
until udhcpc -i eth0 -n -q -t 10 -T 1 -O staticroutes -O mtu -s /usr/share/udhcpc/default.script; do echo "DHCP: no answer, again"; done
hostname > /www/index.html
httpd -p 80 -h /www
echo VM-READY
while true; do setsid cttyhack sh -l; done
EOF
cat > "$root/usr/share/udhcpc/default.script" <<'EOF'
#!/bin/sh
# udhcpc's hook: the MTU (option 26), the address, the default route (or the classless static
# routes, option 121), DNS.
case "$1" in
  bound|renew)
    [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-32}" dev "$interface"
    if [ -n "$staticroutes" ]; then
      set -- $staticroutes
      while [ $# -ge 2 ]; do ip route replace "$1" via "$2" dev "$interface" onlink; shift 2; done
    elif [ -n "$router" ]; then
      ip route replace default via "${router%% *}" dev "$interface" onlink
    fi
    : > /etc/resolv.conf; for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    echo "DHCP: $ip/${mask:-32} router ${router:-none} routes ${staticroutes:-none} dns ${dns:-none} mtu ${mtu:-none}" ;;
esac
exit 0
EOF
chmod 755 "$root/init" "$root/usr/share/udhcpc/default.script"
# busybox's own cpio writes the newc archive (no cpio package needed).
( cd "$root" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -9 > "$work/initrd.gz" )

mv "$work/vmlinux" "$cache/vmlinux.tmp" && mv "$cache/vmlinux.tmp" "$cache/vmlinux"
mv "$work/initrd.gz" "$cache/initrd.gz.tmp" && mv "$cache/initrd.gz.tmp" "$cache/initrd.gz"
# The same DHCP hook for the lab's stand-ins (namespaces that play a VM with busybox udhcpc).
cp "$root/usr/share/udhcpc/default.script" "$cache/udhcpc.script"
echo "$stamp" > "$cache/stamp"
echo "margay: VM image ready ($(du -h "$cache/vmlinux" | cut -f1) kernel, $(du -h "$cache/initrd.gz" | cut -f1) initramfs)" >&2
