#!/usr/bin/env bash
# Host side of the boot path, no qemu: what mkinitramfs puts into the
# archive (and that it is reproducible), the demo rootfs images, and the
# rootfs-init commands that run outside PID 1; bad input gets one line.
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/qemu.sh"
. "$TOP/tests/lib/testkeys.sh"

testkeys "$T/keys" >/dev/null || { not_ok "test keys"; finish; }
cd "$TOP" || exit 1
MK=initramfs/mkinitramfs
K=$QEMU_KVER
common=(--kernel-version "$K" --keyring "$TK/dev-ca.pem" --init "$BIN/rootfs-init")

# --- mkinitramfs
check "mkinitramfs builds (zstd)" $MK -o "$T/i1" "${common[@]}" --compatible board-1 --floor 4
check "mkinitramfs is reproducible" eval '$MK -o "$T/i2" "${common[@]}" --compatible board-1 --floor 4 && cmp "$T/i1" "$T/i2"'
check "the archive is zstd" zstd -tq "$T/i1"
mkdir -p "$T/x"
check "newc cpio that cpio unpacks" eval '(cd "$T/x" && zstd -dc "$T/i1" | cpio -id --quiet 2>/dev/null)'
zstd -dc "$T/i1" | cpio -itv --quiet >"$T/list" 2>/dev/null
check "/init is rootfs-init, executable" eval 'test -x "$T/x/init" && grep -qE "^-rwxr-xr-x .* init$" "$T/list"'
check "/dev/console is the console device (c 5,1)" grep -qE '^crw------- .* 5, +1 .* dev/console$' "$T/list"
check "everything is owned by root, mtime 0" eval '! grep -vE "^[-dc][rwx-]{9} +[0-9]+ root +root .* (Jan  1  1970|1970-01-01)" "$T/list"'
check "keyring is the CA" cmp "$T/x/etc/rootfs/keyring.pem" "$TK/dev-ca.pem"
check_eq "compatible" "$(cat "$T/x/etc/rootfs/compatible")" board-1
check_eq "built-in floor" "$(cat "$T/x/etc/rootfs/floor")" 4
check "every library ldd names is there, loader included" eval '
	for l in $(ldd "$BIN/rootfs-init" | awk '\''$2 == "=>" { print $3 } $1 ~ /^\// { print $1 }'\''); do
		test -f "$T/x$l" || { echo "missing $l"; exit 1; }; done'
mods=$T/x/etc/rootfs/modules
check "module list: every file is in the archive" eval 'while read -r m; do test -f "$T/x$m" || exit 1; done <"$mods"'
pos() { grep -n "/$1.ko\$" "$mods" | cut -d: -f1; }
check "module list: dependencies first (virtio_ring < virtio_pci < virtio_blk, dm-mod < dm-verity, jbd2 < ext4)" \
	eval '[ "$(pos virtio_ring)" -lt "$(pos virtio_pci)" ] && [ "$(pos virtio_pci)" -lt "$(pos virtio_blk)" ] &&
	      [ "$(pos dm-mod)" -lt "$(pos dm-verity)" ] && [ "$(pos jbd2)" -lt "$(pos ext4)" ] &&
	      pos squashfs >/dev/null && pos erofs >/dev/null && pos mmc_block >/dev/null'
check_eq "module list: each module once" "$(sort "$mods" | uniq -d | wc -l)" 0
check "no shell or busybox in the archive" eval '! grep -qE "(bin/sh|busybox)" "$T/list"'

check "keyring directory: its CA certificates concatenated, sorted" eval '
	$MK -o "$T/i3" --kernel-version "$K" --keyring "$TK/keyring" --init "$BIN/rootfs-init" --compress gzip &&
	gzip -t "$T/i3" && mkdir -p "$T/y" && (cd "$T/y" && gzip -dc "$T/i3" | cpio -id --quiet 2>/dev/null) &&
	cat "$TK/keyring/dev-ca.pem" "$TK/keyring/release-ca.pem" | cmp - "$T/y/etc/rootfs/keyring.pem" &&
	test ! -e "$T/y/etc/rootfs/compatible"'
printf '# site settings\ndata=/data\nwatchdog=30\n' >"$T/init.conf"
printf 'data=relative\n' >"$T/bad.conf"
check "--conf: init.conf checked and carried" eval '$MK -o "$T/i5" "${common[@]}" --conf "$T/init.conf" &&
	zstd -dc "$T/i5" | (mkdir -p "$T/c" && cd "$T/c" && cpio -id --quiet etc/rootfs/init.conf 2>/dev/null) &&
	cmp "$T/init.conf" "$T/c/etc/rootfs/init.conf"'
check_fails "--conf: a bad init.conf is refused at build time" \
	"^mkinitramfs: $T/bad.conf: rootfs.data= must be an absolute mount point" $MK -o "$T/z" "${common[@]}" --conf "$T/bad.conf"
check "--compress none is a plain cpio" eval '$MK -o "$T/i4" "${common[@]}" --compress none --modules dm-verity &&
	cpio -it --quiet <"$T/i4" 2>/dev/null | grep -qx init'

check_fails "mkinitramfs: no -o" '^mkinitramfs: -o OUT is required$' $MK "${common[@]}"
check_fails "mkinitramfs: unknown kernel" 'no modules for kernel 0.0-none' $MK -o "$T/z" --kernel-version 0.0-none --keyring "$TK/dev-ca.pem"
check_fails "mkinitramfs: keyring without certificates" 'no PEM certificate' $MK -o "$T/z" --kernel-version "$K" --keyring "$TK/dev-ca.key" --init "$BIN/rootfs-init"
check_fails "mkinitramfs: unknown module" '^mkinitramfs: module no_such_module: ' $MK -o "$T/z" "${common[@]}" --modules no_such_module
check_fails "mkinitramfs: bad compatible" 'one printable word' $MK -o "$T/z" "${common[@]}" --compatible "two words"
check_fails "mkinitramfs: bad floor" 'must be a number' $MK -o "$T/z" "${common[@]}" --floor -1
check_fails "mkinitramfs: unknown option" "unknown option '--bogus'" $MK --bogus
check "mkinitramfs: nothing left behind on failure" test ! -e "$T/z"

# --- demo rootfs
D=images/demo-rootfs.sh
check "demo rootfs: ext4, version 5" $D "$T/d4" 5
check "demo rootfs: ext4 image carries VERSION_ID=5" eval 'debugfs -R "cat /etc/os-release" "$T/d4/rootfs.img" 2>/dev/null | grep -qx VERSION_ID=5'
check "demo rootfs: ext4 with 4096-byte blocks" eval 'dumpe2fs -h "$T/d4/rootfs.img" 2>/dev/null | grep -qE "^Block size: +4096$"'
check "demo rootfs: /sbin/init prints the marker and powers off" eval '
	debugfs -R "cat /sbin/init" "$T/d4/rootfs.img" 2>/dev/null >"$T/init5" &&
	grep -q "ROOTFS-DEMO: version" "$T/init5" && grep -q "poweroff -f" "$T/init5" && grep -q "health_check() { true; }" "$T/init5"'
check "demo rootfs: squashfs, fail-health, version 3" $D "$T/dsq" 3 --fstype squashfs --init-mode fail-health
check "demo rootfs: squashfs init fails its health check" eval '
	unsquashfs -cat "$T/dsq/rootfs.img" sbin/init | grep -q "health_check() { false; }" &&
	unsquashfs -cat "$T/dsq/rootfs.img" etc/os-release | grep -qx VERSION_ID=3'
check "demo rootfs: erofs with kernel and initrd in /boot" $D "$T/der" 2 --fstype erofs --kernel-version "$K" --initrd "$T/i1"
check "demo rootfs: erofs holds /boot/vmlinuz and /boot/initrd.img" eval '
	fsck.erofs --extract="$T/der-x" "$T/der/rootfs.img" >/dev/null 2>&1 &&
	cmp "$T/der-x/boot/vmlinuz" "/boot/vmlinuz-$K" && cmp "$T/der-x/boot/initrd.img" "$T/i1"'
check "demo rootfs: images are whole 4096-byte blocks" eval '
	for f in "$T"/d4/rootfs.img "$T"/dsq/rootfs.img "$T"/der/rootfs.img; do
		[ $(( $(stat -c %s "$f") % 4096 )) = 0 ] || exit 1; done'
check "demo rootfs: --add-binary carries the tool, its libraries and the loader" eval '
	$D "$T/dbin" 1 --add-binary "$BIN/rootfs-init" >/dev/null &&
	for f in /usr/bin/rootfs-init $(ldd "$BIN/rootfs-init" | awk '\''$2 == "=>" { print $3 } $1 ~ /^\// { print $1 }'\''); do
		debugfs -R "stat $f" "$T/dbin/rootfs.img" 2>&1 | grep -q "Type: regular" || { echo "missing $f"; exit 1; }; done'
check_fails "demo rootfs: bad version" "VERSION must be a number" $D "$T/dx" 1.2
check_fails "demo rootfs: bad fstype" "fstype must be" $D "$T/dx" 1 --fstype vfat
check_fails "demo rootfs: bad init mode" "init-mode must be" $D "$T/dx" 1 --init-mode crash
check_fails "demo rootfs: --add-binary of a missing file" "is not an executable file" $D "$T/dx" 1 --add-binary /nonexistent

# --- rootfs-init outside PID 1
check "rootfs-init config: the effective configuration" eval '
	rootfs-init config "quiet rootfs.slot=B rootfs.floor=3 rootfs.verity=panic rootfs.data=/data" >"$T/cfg" &&
	grep -qx slot=b "$T/cfg" && grep -qx floor=3 "$T/cfg" && grep -qx verity=panic "$T/cfg" &&
	grep -qx data=/data "$T/cfg" && grep -qx keyring=/etc/rootfs/keyring.pem "$T/cfg" && grep -qx timeout=10 "$T/cfg"'
check "rootfs-init config --conf: init.conf first, the command line overrides" eval '
	rootfs-init config --conf "$T/init.conf" "rootfs.slot=a rootfs.watchdog=5" >"$T/cfg2" &&
	grep -qx data=/data "$T/cfg2" && grep -qx watchdog=5 "$T/cfg2"'
check_fails "rootfs-init config --conf: missing file" "^rootfs-init: $T/nope.conf: No such file or directory\$" \
	rootfs-init config --conf "$T/nope.conf" ""
check_fails "rootfs-init config: bad slot" '^rootfs-init: kernel command line: rootfs.slot= must be a or b$' \
	rootfs-init config "rootfs.slot=c"
check_fails "rootfs-init config: unknown key" 'unknown rootfs parameter' rootfs-init config "rootfs.sloot=a"
check_fails "rootfs-init: unknown command" "unknown command 'bogus'" rootfs-init bogus
check_fails "rootfs-init: no command" 'missing command' rootfs-init
check_fails "rootfs-init mount: relative directory" 'usage' rootfs-init mount relative/dir
# Hook mode on this host: its kernel command line names no slot.
check_fails "rootfs-init mount: refuses without rootfs.slot=, one line, exit 1" \
	'^rootfs-init: slot \?: no rootfs.slot= on the kernel command line$' rootfs-init mount "$T/mnt"
check "rootfs-init mount: mounted nothing" eval '! grep -q " $T/mnt " /proc/mounts'


finish
