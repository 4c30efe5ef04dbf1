#!/usr/bin/env bash
# demo-rootfs.sh: a tiny busybox-static root filesystem for the boot tests
# and the virtual gateway, built as a normal user.
#
#   images/demo-rootfs.sh OUTDIR VERSION [--fstype ext4|squashfs|erofs]
#       [--init-mode good|fail-health|hang] [--kernel-version KVER] [--initrd FILE]
#       [--overlay DIR] [--add-binary FILE]...
#
# Writes OUTDIR/rootfs.img (a multiple of 4096 bytes, ready for
# `rootfs-image create`) from the tree OUTDIR/tree, and prints its path.
# /etc/os-release carries VERSION_ID=VERSION. /sbin/init prints
#   ROOTFS-DEMO: version N booted, root=<device> ro
#   ROOTFS-DEMO: mount: <the /proc/mounts line of />
#   ROOTFS-DEMO: data: <the /proc/mounts line of /data, when mounted>
# then runs its health check (--init-mode fail-health makes it fail); on
# success it runs `rootfs-bootctl mark-good` when the slot has that tool
# and powers off, on failure it reboots. --init-mode hang prints
# "ROOTFS-DEMO: hanging" and sleeps forever instead (for watchdog tests). --kernel-version puts
# /boot/vmlinuz (and --initrd /boot/initrd.img) into the slot, for a
# bootloader that loads them from there; --overlay copies DIR on top;
# --add-binary puts a dynamically linked tool (rootfs-bootctl, say) into
# /usr/bin with the libraries ldd names for it.
set -euo pipefail

prog=demo-rootfs.sh
die() { echo "$prog: $*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: $prog OUTDIR VERSION [--fstype ext4|squashfs|erofs] [--init-mode good|fail-health|hang] [--kernel-version KVER] [--initrd FILE] [--overlay DIR] [--add-binary FILE]..."
out=$1 version=$2
shift 2
fstype=ext4 mode=good kver='' initrd='' overlay=''
binaries=()
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || die "$1 needs a value"
	case $1 in
	--fstype) fstype=$2 ;;
	--init-mode) mode=$2 ;;
	--kernel-version) kver=$2 ;;
	--initrd) initrd=$2 ;;
	--overlay) overlay=$2 ;;
	--add-binary) [ -f "$2" ] && [ -x "$2" ] || die "--add-binary $2 is not an executable file"; binaries+=("$2") ;;
	*) die "unknown option '$1'" ;;
	esac
	shift 2
done
case $version in ''|*[!0-9]*) die "VERSION must be a number, not '$version'" ;; esac
case $fstype in ext4|squashfs|erofs) ;; *) die "--fstype must be ext4, squashfs or erofs" ;; esac
case $mode in good|fail-health|hang) ;; *) die "--init-mode must be good, fail-health or hang" ;; esac
[ -z "$kver" ] || [ -f "/boot/vmlinuz-$kver" ] || die "no /boot/vmlinuz-$kver"
[ -z "$initrd" ] || [ -n "$kver" ] || die "--initrd needs --kernel-version"
[ -z "$initrd" ] || [ -f "$initrd" ] || die "--initrd $initrd is not a file"
[ -z "$overlay" ] || [ -d "$overlay" ] || die "--overlay $overlay is not a directory"
busybox=/bin/busybox
# The slot has no libraries for it: busybox must be the static build.
case $([ -x "$busybox" ] && LC_ALL=C ldd "$busybox" 2>&1) in
*'not a dynamic executable'*) ;;
*) die "$busybox is not busybox-static" ;;
esac

mkdir -p "$out"
tree=$out/tree img=$out/rootfs.img
rm -rf "$tree" && mkdir -p "$tree"
(cd "$tree" && mkdir -p bin sbin etc proc sys dev run tmp data boot usr/bin usr/sbin var)
cp "$busybox" "$tree/bin/busybox"
for a in sh ash cat echo grep sed awk head tail ls mount umount sleep sync poweroff reboot \
         mkdir rm cp true false test uname dmesg; do
	ln -s busybox "$tree/bin/$a"
done

cat >"$tree/etc/os-release" <<EOF
NAME="rootfs-update demo"
ID=rootfs-demo
VERSION_ID=$version
PRETTY_NAME="rootfs-update demo $version"
EOF

if [ "$mode" = good ]; then health=true; else health=false; fi
hang=
[ "$mode" != hang ] || hang='echo "ROOTFS-DEMO: hanging"
while :; do sleep 3600; done
'
cat >"$tree/sbin/init" <<EOF
#!/bin/sh
# Demo init: says which version booted and from what root, confirms the
# boot when healthy, then powers off (or reboots when unhealthy).
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
[ -r /proc/mounts ] || mount -t proc proc /proc
. /etc/os-release
line=\$(awk '\$2 == "/" { l = \$0 } END { print l }' /proc/mounts)
set -- \$line
case ",\$4," in *,ro,*) ro=ro ;; *) ro=rw ;; esac
echo "ROOTFS-DEMO: version \$VERSION_ID booted, root=\$1 \$ro"
echo "ROOTFS-DEMO: mount: \$line"
data=\$(awk '\$2 == "/data"' /proc/mounts)
[ -z "\$data" ] || echo "ROOTFS-DEMO: data: \$data"
${hang}health_check() { $health; }
if health_check; then
	echo "ROOTFS-DEMO: health check passed"
	if command -v rootfs-bootctl >/dev/null 2>&1; then
		rootfs-bootctl mark-good && echo "ROOTFS-DEMO: marked good"
	fi
	sync
	poweroff -f
else
	echo "ROOTFS-DEMO: health check failed, rebooting"
	sync
	reboot -f
fi
EOF
chmod 0755 "$tree/sbin/init"

if [ -n "$kver" ]; then
	cp "/boot/vmlinuz-$kver" "$tree/boot/vmlinuz"
	[ -z "$initrd" ] || cp "$initrd" "$tree/boot/initrd.img"
fi
for b in "${binaries[@]}"; do
	cp "$b" "$tree/usr/bin/"
	ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r l; do
		mkdir -p "$tree${l%/*}" && cp -L "$l" "$tree$l"
	done
done
[ -z "$overlay" ] || cp -a "$overlay"/. "$tree"/

rm -f "$img"
case $fstype in
ext4)
	# 4096-byte blocks (dm-verity needs them); no journal on a read-only
	# root; room for the files plus a third, at least 8 MiB.
	kib=$(du -sk --apparent-size "$tree" | cut -f1)
	blocks=$(( (kib * 4 / 3 + 4096) / 4 + 256 ))
	[ $blocks -ge 2048 ] || blocks=2048
	mkfs.ext4 -q -F -b 4096 -O ^has_journal -L rootfs -U "00000000-0000-4000-8000-$(printf %012d "$version")" \
		-E root_owner=0:0 -d "$tree" "$img" "$blocks" >/dev/null
	;;
squashfs)
	mksquashfs "$tree" "$img" -noappend -all-root -quiet -no-progress -mkfs-time 0 -all-time 0 >/dev/null
	;;
erofs)
	mkfs.erofs --quiet --all-root -T0 -U "00000000-0000-4000-8000-$(printf %012d "$version")" "$img" "$tree" >/dev/null
	;;
esac
# dm-verity and rootfs-image want whole 4096-byte blocks.
size=$(stat -c %s "$img")
truncate -s $(( (size + 4095) / 4096 * 4096 )) "$img"
echo "$img"
