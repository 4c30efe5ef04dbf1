# Virtual gateway harness, sourced by tests/integration/gateway-*.sh and
# tests/lib/demo.sh: one "power cycle" of an x86 machine under
# qemu-system-x86_64 -accel tcg with OVMF (UEFI) firmware, booting a raw
# disk image, its serial console captured to a file, bounded by timeout.
# A guest reboot ends the qemu run (-no-reboot); the next gw_boot on the
# same disk is the reboot. Needs: qemu-system-x86 ovmf mtools gdisk
# grub-common (grub-editenv) grub-efi-amd64-bin (gw_grub_efi only).
#
# Functions return 0 or non-zero like commands and print nothing on success
# unless they say so; results of a boot are left in GW_* variables.

GW_OVMF_CODE=${GW_OVMF_CODE:-/usr/share/OVMF/OVMF_CODE_4M.fd}
GW_OVMF_VARS=${GW_OVMF_VARS:-/usr/share/OVMF/OVMF_VARS_4M.fd}
# A full boot took 17-72 s on the project's 2-core machine depending on
# what else ran (docs/GATEWAY.md); the timeout only has to catch a hang.
GW_BOOT_TIMEOUT=${GW_BOOT_TIMEOUT:-180}
GW_MEM=${GW_MEM:-512}
# Modules for a GRUB EFI image that runs a grub.cfg from a FAT ESP and loads
# a kernel from an ext4 or squashfs slot. GRUB 2.06 (Debian 12) has no erofs
# driver, so it cannot read /boot from an erofs slot.
GW_GRUB_MODULES=${GW_GRUB_MODULES:-part_gpt fat ext2 squash4 normal linux loadenv test echo configfile halt reboot sleep search regexp}
export MTOOLS_SKIP_CHECK=1

# gw_grub_efi OUT: a standalone-enough GRUB EFI binary whose prefix is
# /EFI/BOOT on the partition it was loaded from (so it reads
# /EFI/BOOT/grub.cfg there).
gw_grub_efi() {
	grub-mkimage -O x86_64-efi -p /EFI/BOOT -o "$1" $GW_GRUB_MODULES
}

# gw_vars DISK: the writable OVMF variable store that belongs to DISK
# (DISK.vars, created from the pristine template on first use), so that a
# machine keeps its NVRAM across power cycles like a real one.
gw_vars() {
	local v=$1.vars
	[ -f "$v" ] || cp "$GW_OVMF_VARS" "$v" || return 1
	echo "$v"
}

# gw_part_offset DISK N: byte offset of GPT partition N.
gw_part_offset() {
	local first
	first=$(sgdisk -i "$2" "$1" 2>/dev/null | sed -n 's/^First sector: \([0-9]*\).*/\1/p')
	[ -n "$first" ] || { echo "gateway: $1 has no GPT partition $2" >&2; return 1; }
	echo $((first * 512))
}

# gw_esp_get DISK PATH OUT / gw_esp_put DISK FILE PATH: copy a file out of
# or into the FAT ESP (partition 1) with mtools, no loop device or mount.
gw_esp_get() {
	local off
	off=$(gw_part_offset "$1" 1) || return 1
	mcopy -o -n -i "$1@@$off" "::$2" "$3"
}
gw_esp_put() {
	local off
	off=$(gw_part_offset "$1" 1) || return 1
	mcopy -o -n -i "$1@@$off" "$2" "::$3"
}

# gw_env DISK [VAR]: the GRUB environment /EFI/BOOT/grubenv on the ESP as
# grub-editenv reads it: all "name=value" lines, or the value of VAR
# (empty when unset).
gw_env() {
	local tmp r=0
	tmp=$(mktemp "${TMPDIR:-/tmp}/gw-env.XXXXXX") || return 1
	if gw_esp_get "$1" /EFI/BOOT/grubenv "$tmp" 2>/dev/null && [ "$(stat -c %s "$tmp")" = 1024 ]; then
		if [ $# -ge 2 ]; then
			grub-editenv "$tmp" list | sed -n "s/^$2=//p"
		else
			grub-editenv "$tmp" list
		fi || r=1
	else
		echo "gateway: no 1024-byte /EFI/BOOT/grubenv on $1" >&2; r=1
	fi
	rm -f "$tmp"
	return $r
}

# Serial output minus terminal control sequences and CRs, so that a log
# can be grepped line by line (GRUB and OVMF paint the screen).
gw_clean_console() {
	sed -e 's/\x1b\[[0-9;=?]*[A-Za-z]//g' -e 's/\x1bc//g' -e 's/\r//g' -e '/^[[:space:]]*$/d' "$1"
}

# gw_qemu NAME QEMU-ARGS...: run one power cycle. The serial console goes
# to NAME.raw (as sent) and NAME.log (cleaned), QMP events to NAME.qmp.
# Sets GW_LOG (the cleaned log), GW_SECS (wall seconds) and GW_END, how the
# run ended: poweroff (guest powered off), reset (guest rebooted, a panic
# with panic=-1 included), watchdog (the i6300esb fired), timeout (killed
# after GW_BOOT_TIMEOUT s: a hang) or error (qemu failed). Returns 0 unless
# the run timed out or qemu failed.
gw_qemu() {
	local name=$1; shift
	local start rc feeder
	GW_LOG=$name.log
	start=$(date +%s)
	# QMP on stdio tells how the run ended; its input must stay open while
	# qemu runs, so a feeder sends the handshake and then waits.
	rm -f "$name.fifo"
	mkfifo "$name.fifo" || return 1
	(echo '{"execute":"qmp_capabilities"}'; exec sleep "$GW_BOOT_TIMEOUT") > "$name.fifo" &
	feeder=$!
	timeout "$GW_BOOT_TIMEOUT" qemu-system-x86_64 -accel tcg -m "$GW_MEM" \
		-nographic -nodefaults -no-reboot -net none \
		-device i6300esb -action watchdog=reset \
		-chardev "file,id=con,path=$name.raw" -serial chardev:con \
		-qmp stdio "$@" < "$name.fifo" > "$name.qmp" 2> "$name.err"
	rc=$?
	kill "$feeder" 2>/dev/null
	wait "$feeder" 2>/dev/null
	rm -f "$name.fifo"
	GW_SECS=$(( $(date +%s) - start ))
	gw_clean_console "$name.raw" > "$GW_LOG" 2>/dev/null
	if [ $rc = 124 ]; then GW_END=timeout
	elif [ $rc != 0 ]; then GW_END=error
	elif grep -q '"event": *"WATCHDOG"' "$name.qmp"; then GW_END=watchdog
	elif grep -q '"reason": *"guest-reset"' "$name.qmp"; then GW_END=reset
	elif grep -q '"reason": *"guest-shutdown"' "$name.qmp"; then GW_END=poweroff
	else GW_END=error
	fi
	[ "$GW_END" != timeout ] && [ "$GW_END" != error ]
}

# gw_boot DISK NAME: power the gateway on with DISK as its only disk
# (virtio), OVMF firmware and DISK's own variable store; see gw_qemu.
gw_boot() {
	local disk=$1 name=$2 vars
	vars=$(gw_vars "$disk") || return 1
	gw_qemu "$name" \
		-drive "if=pflash,format=raw,unit=0,readonly=on,file=$GW_OVMF_CODE" \
		-drive "if=pflash,format=raw,unit=1,file=$vars" \
		-drive "file=$disk,format=raw,if=virtio"
}

# gw_boot_uboot DISK NAME: the same machine with U-Boot as its firmware
# (Debian's u-boot-qemu qemu-x86 build, -bios) instead of OVMF.
GW_UBOOT_ROM=${GW_UBOOT_ROM:-/usr/lib/u-boot/qemu-x86/u-boot.rom}
gw_boot_uboot() {
	gw_qemu "$2" -bios "$GW_UBOOT_ROM" -drive "file=$1,format=raw,if=virtio"
}

# gw_console_has REGEX [LOG]: the (cleaned) console of the last boot, or
# LOG, has a line matching the extended REGEX.
gw_console_has() {
	grep -q -E -- "$1" "${2:-$GW_LOG}"
}

# gw_describe [N]: how the last boot ended and the last N console lines,
# as TAP comments for test diagnostics.
gw_describe() {
	echo "# boot ended by $GW_END after ${GW_SECS}s; console ($GW_LOG):"
	tail -n "${1:-15}" "$GW_LOG" | sed 's/^/#   | /'
	echo
}
