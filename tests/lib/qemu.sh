# shellcheck shell=bash
# Sourced by tests that boot a real kernel: qemu-system-x86_64 under TCG
# (KVM does not work on these machines), serial console captured in a
# file, every boot bounded by timeout.
#
#   qemu_kver                    newest kernel with both /boot/vmlinuz-K and /lib/modules/K
#   qemu_boot LOG INITRD APPEND [DISK|-] [QEMU ARGS...]
#                                boots /boot/vmlinuz-$QEMU_KVER once (-no-reboot: a guest
#                                reboot ends qemu too); returns qemu's status, 124 on timeout
#   qemu_outcome LOG             poweroff | reboot | panic | timeout | unknown
#
# QEMU_TIMEOUT (seconds) bounds one boot, default 300: a loaded 2-core host
# slows TCG down several times. QEMU_MEM (MiB) defaults to 512.

qemu_kver() {
	local v k
	for k in $(ls /boot/vmlinuz-* 2>/dev/null | sort -V -r); do
		v=${k#/boot/vmlinuz-}
		[ -d "/lib/modules/$v" ] && { echo "$v"; return 0; }
	done
	return 1
}

QEMU_KVER=${QEMU_KVER:-$(qemu_kver || true)}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-300}
QEMU_MEM=${QEMU_MEM:-512}

qemu_boot() {
	local log=$1 initrd=$2 append=$3 disk=${4:--} rc start
	shift 3; [ $# -gt 0 ] && shift
	local args=(-accel tcg -m "$QEMU_MEM" -smp 1 -nodefaults -display none -no-reboot
		-serial "file:$log" -kernel "/boot/vmlinuz-$QEMU_KVER" -initrd "$initrd" -append "$append")
	[ "$disk" = - ] || args+=(-drive "file=$disk,if=virtio,format=raw")
	: >"$log"
	start=$(date +%s%N)
	timeout --kill-after=5 "$QEMU_TIMEOUT" qemu-system-x86_64 "${args[@]}" "$@" </dev/null >"$log.qemu" 2>&1
	rc=$?
	sed -i 's/\r$//' "$log" # the serial console ends lines with CR LF
	[ $rc = 124 ] && echo "QEMU-TIMEOUT after ${QEMU_TIMEOUT} s" >>"$log"
	echo "# boot: $(( ($(date +%s%N) - start) / 1000000 )) ms, qemu rc=$rc ($(qemu_outcome "$log"))" >&2
	return $rc
}

# How the boot ended, from the kernel's last words on the console.
qemu_outcome() {
	local log=$1
	if grep -q '^QEMU-TIMEOUT' "$log"; then echo timeout
	elif grep -q 'Kernel panic' "$log"; then echo panic
	elif grep -q 'reboot: Power down' "$log"; then echo poweroff
	elif grep -q 'reboot: Restarting system' "$log"; then echo reboot
	else echo unknown
	fi
}

# part_extent DISK LABEL: "OFFSET SIZE" in bytes of the GPT partition named LABEL.
part_extent() {
	sgdisk -p "$1" 2>/dev/null | awk -v l="$2" '$1 ~ /^[0-9]+$/ && $NF == l { n = $1 } END { if (!n) exit 1; print n }' |
		{ read -r n || return 1; sgdisk -i "$n" "$1" | awk '
			/^First sector:/ { f = $3 } /^Last sector:/ { l = $3 }
			END { printf "%d %d\n", f * 512, (l - f + 1) * 512 }'; }
}

# flip_byte FILE OFFSET: inverts one byte in place.
flip_byte() {
	python3 -c 'import sys
f = open(sys.argv[1], "r+b"); o = int(sys.argv[2]); f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}
