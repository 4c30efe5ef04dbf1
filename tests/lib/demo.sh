#!/usr/bin/env bash
# make demo: the virtual-gateway story, told on the terminal.
#
# Run (bash tests/lib/demo.sh, after `make all`): builds development keys,
# an initramfs, demo root filesystems 1, 2 and 3 (each slot carries its own
# kernel and initramfs), signed updates and a factory disk, then runs five
# steps on a qemu gateway (OVMF, GRUB, Linux, dm-verity; tests/lib/gateway.sh),
# printing each step with its outcome and time and a summary table. Exit 0
# only if every step behaved as described. Work files and every boot's
# console log stay in $B/demo (DEMO_DIR).
#
# DEMO_BOOTLOADER=uboot tells it with U-Boot as firmware and bootloader
# instead of OVMF + GRUB. Sourced (tests/integration/gateway-ab.sh and
# gateway-uboot.sh, with DEMO_TAP=1): the same scenario, each expectation a
# TAP line. Between boots the host touches the
# disk only with the project's tools (--disk), except the tampering of step 4.

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$TOP/tests/lib/gateway.sh"

DEMO_TAP=${DEMO_TAP:-0}
DEMO_COMPAT=rootfs-demo-gw
DEMO_SLOT_SIZE=128M
DEMO_DIR=${DEMO_DIR:-}
# grub: OVMF + GRUB (bootctl/grub/grub.cfg, grubenv on the ESP); uboot:
# U-Boot as firmware (tests/lib/gateway-uboot.cmd, environment on the disk).
DEMO_BOOTLOADER=${DEMO_BOOTLOADER:-grub}
DEMO_STEPS=${DEMO_STEPS:-step1 step2 step3 step4 step5}
if [ "$DEMO_BOOTLOADER" = uboot ]; then BL=U-Boot FW=U-Boot ENVN="U-Boot env"; else BL=GRUB FW="OVMF, GRUB" ENVN=grubenv; fi
# Where the U-Boot variant keeps its environment on the disk.
DEMO_UBOOT_ENV="0x80000 0x2000"
W= DISK= DEMO_SOURCE=
demo_boots=0
step_no=0 step_title= step_failed=0 step_first_fail= step_start=0 step_boots=0
summary=()

# ---------------------------------------------------------------- output

say() { if [ "$DEMO_TAP" = 1 ]; then echo "# $*"; else echo "$*"; fi; }

# expect DESC CMD...: one expectation of the current step.
expect() {
	local desc=$1; shift
	if "$@" >"$W/.out" 2>&1; then
		if [ "$DEMO_TAP" = 1 ]; then ok "step $step_no: $desc"; else echo "     ok      $desc"; fi
	else
		[ $step_failed = 1 ] || step_first_fail=$desc
		step_failed=1
		if [ "$DEMO_TAP" = 1 ]; then not_ok "step $step_no: $desc"; else echo "     FAILED  $desc"; fi
		sed 's/^/#       /' "$W/.out" | tail -8
	fi
}
_eq() { [ "$1" = "$2" ] || { echo "got '$1', expected '$2'"; return 1; }; }
expect_eq() { expect "$1 ($3)" _eq "$2" "$3"; }

step_begin() {
	step_no=$1 step_title=$2 step_failed=0 step_first_fail= step_boots=0 step_start=$(date +%s)
	say ""
	say "== step $step_no: $step_title"
}
# step_end WHAT-HAPPENED: one summary row (on failure: what did not).
step_end() {
	local secs=$(( $(date +%s) - step_start )) res=PASS what=$1
	if [ $step_failed = 1 ]; then res=FAIL what="not as described: $step_first_fail"; fi
	say "   -> $res in ${secs}s, $step_boots boot(s): $what"
	summary+=("$(printf '%-2s %-48.48s %-4s %5s %6ss' "$step_no" "$what" "$res" "$step_boots" "$secs")")
}

# ----------------------------------------------------------------- build

# The guest's rootfs-bootctl: the real tool (demo-rootfs.sh --add-binary
# brings it with its libraries, as rootfs-bootctl.real) behind a wrapper
# that names the disk and the kernel command line, so mark-good rewrites
# the environment in place on the disk (no vfat mount needed).
make_overlay() {
	local o=$1
	mkdir -p "$o/usr/bin" "$o/etc" "$W/tools"
	cp "$BIN/rootfs-bootctl" "$W/tools/rootfs-bootctl.real"
	echo "/dev/vda $DEMO_UBOOT_ENV" >"$o/etc/fw_env.config"
	# gw.env=uboot on the command line: the U-Boot variant's environment.
	cat >"$o/usr/bin/rootfs-bootctl" <<'EOF'
#!/bin/sh
case " $(cat /proc/cmdline) " in
*" gw.env=uboot "*) set -- --fw-env-config /etc/fw_env.config "$@" ;;
esac
exec /usr/bin/rootfs-bootctl.real --disk /dev/vda --cmdline /proc/cmdline "$@"
EOF
	chmod 0755 "$o/usr/bin/rootfs-bootctl"
}

# make_update VERSION MODE: demo rootfs VERSION with its own kernel and
# initramfs, as a signed update $W/vVERSION.upd.
make_update() {
	local v=$1 mode=$2
	"$TOP/images/demo-rootfs.sh" "$W/fs$v" "$v" --init-mode "$mode" --kernel-version "$KVER" \
		--initrd "$W/initrd.img" --overlay "$W/overlay" --add-binary "$W/tools/rootfs-bootctl.real" >/dev/null &&
	rootfs-image create --rootfs "$W/fs$v/rootfs.img" --key "$W/keys/dev-signing.key" \
		--cert "$W/keys/dev-signing.pem" --compatible "$DEMO_COMPAT" --version "$v" -o "$W/v$v.upd" >/dev/null
}

# The U-Boot variant's factory disk: the same slots and ESP without GRUB,
# the script as /boot.scr (distro boot finds it) and the factory
# environment (mkenvimage) at DEMO_UBOOT_ENV, which the host's tools reach
# through fw_env.config.
make_uboot_disk() {
	local off size
	read -r off size <<<"$DEMO_UBOOT_ENV"
	rootfs-image disk -o "$DISK" --slot-a "$W/v1.upd" --slot-size "$DEMO_SLOT_SIZE" \
		--bootloader none --keyring "$W/keys/dev-ca.pem" &&
	mkimage -A x86 -T script -C none -d "$TOP/tests/lib/gateway-uboot.cmd" "$W/boot.scr" >/dev/null &&
	gw_esp_put "$DISK" "$W/boot.scr" /boot.scr &&
	printf 'BOOT_ORDER=A B\nBOOT_A_LEFT=3\nBOOT_B_LEFT=0\nROOTFS_GOOD=A\nROOTFS_FLOOR=1\n' >"$W/env.txt" &&
	mkenvimage -s "$size" -o "$W/env.bin" "$W/env.txt" &&
	dd if="$W/env.bin" of="$DISK" bs=512 seek=$((off / 512)) conv=notrunc status=none &&
	echo "$DISK $DEMO_UBOOT_ENV" >"$W/fw_env.config" &&
	fw_printenv -c "$W/fw_env.config" BOOT_ORDER
}

demo_prepare() {
	if [ -n "$DEMO_DIR" ]; then W=$DEMO_DIR; else W=$T; fi
	# Only a directory this demo made (or an empty one) is wiped.
	if [ -d "$W" ] && [ ! -e "$W/.rootfs-demo" ] && [ -n "$(ls -A "$W")" ]; then
		say "demo: $W exists and is not a demo directory; not touching it"
		return 1
	fi
	rm -rf "$W" && mkdir -p "$W/logs" && touch "$W/.rootfs-demo" || return 1
	W=$(cd "$W" && pwd)
	DISK=$W/gateway.img
	KVER=$(basename "$(ls /boot/vmlinuz-* | sort -V | tail -1)" | sed 's/^vmlinuz-//')
	say "rootfs-update demo: a virtual gateway (qemu TCG, $FW, Linux $KVER, dm-verity)"
	say "work files and console logs: $W"
	step_begin 0 "prepare: keys, initramfs, rootfs v1 v2 v3, signed updates, factory disk"
	expect "development keys (images/mkkeys.sh)" bash "$TOP/images/mkkeys.sh" "$W/keys"
	expect "initramfs: rootfs-init, dev CA keyring, compatible '$DEMO_COMPAT'" \
		"$TOP/initramfs/mkinitramfs" -o "$W/initrd.img" --kernel-version "$KVER" \
		--keyring "$W/keys/dev-ca.pem" --compatible "$DEMO_COMPAT" --init "$BIN/rootfs-init" \
		--modules "virtio_pci virtio_blk dm-verity ext4 i6300esb"
	expect "guest rootfs-bootctl overlay" make_overlay "$W/overlay"
	expect "v1 (healthy) signed update" make_update 1 good
	expect "v2 (healthy) signed update" make_update 2 good
	expect "v3 (fails its health check) signed update" make_update 3 fail-health
	expect "each slot image carries its own /boot/vmlinuz and /boot/initrd.img" \
		eval 'for v in 1 2 3; do debugfs -R "stat /boot/vmlinuz" "$W/fs$v/rootfs.img" 2>&1 | grep -q "Size: [1-9]" &&
			debugfs -R "stat /boot/initrd.img" "$W/fs$v/rootfs.img" 2>&1 | grep -q "Size: [1-9]" || exit 1; done'
	if [ "$DEMO_BOOTLOADER" = uboot ]; then
		expect "factory disk: v1 in slot A (rootfs-image disk), boot.scr on the ESP, U-Boot environment" \
			make_uboot_disk
	else
		expect "factory disk: v1 in slot A, GRUB on the ESP (rootfs-image disk)" \
			rootfs-image disk -o "$DISK" --slot-a "$W/v1.upd" --slot-size "$DEMO_SLOT_SIZE" \
			--bootloader grub --keyring "$W/keys/dev-ca.pem"
	fi
	cat >"$W/install.conf" <<EOF
[device]
compatible = $DEMO_COMPAT
keyring = $W/keys/dev-ca.pem
[install]
log_file = $W/install.log
lock_file = $W/install.lock
EOF
	if [ "$DEMO_BOOTLOADER" = uboot ]; then
		printf '[bootloader]\nbackend = uboot\nfw_env_config = %s\n' "$W/fw_env.config" >>"$W/install.conf"
	fi
	# HTTPS from a local nginx where one can run, else files.
	DEMO_SOURCE=file
	if [ "$(id -u)" = 0 ] && [ -x /usr/sbin/nginx ] && source "$TOP/tests/lib/nginx.sh" &&
	   mkdir -p "$W/www" && cp "$W"/v[123].upd "$W/www/" && nginx_start "$W/nginx" "$W/www" >/dev/null 2>&1; then
		DEMO_SOURCE=https
	fi
	say "   updates come from: $DEMO_SOURCE"
	[ "$(id -u)" != 0 ] || expect "root: updates are served over HTTPS by a local nginx" test "$DEMO_SOURCE" = https
	step_end "keys, initramfs, updates v1 v2 v3, factory disk"
	[ $step_failed = 0 ]
}

# ---------------------------------------------------------- boot, inspect

# boot LABEL: one power cycle of the gateway. Sets slot (a|b, what GRUB
# booted), ver (the version whose init ran, or -), what (how it went).
boot() {
	demo_boots=$((demo_boots + 1)) step_boots=$((step_boots + 1))
	if [ "$DEMO_BOOTLOADER" = uboot ]; then
		gw_boot_uboot "$DISK" "$W/logs/$(printf %02d $demo_boots)-$1"
	else
		gw_boot "$DISK" "$W/logs/$(printf %02d $demo_boots)-$1"
	fi
	slot=$(sed -n 's/.*rootfs-update: booting slot \([ab]\).*/\1/p' "$GW_LOG" | tail -1)
	ver=$(sed -n 's/.*ROOTFS-DEMO: version \([0-9]*\) booted.*/\1/p' "$GW_LOG" | tail -1)
	if gw_console_has 'ROOTFS-DEMO: marked good'; then what="confirmed itself (mark-good)"
	elif gw_console_has 'ROOTFS-DEMO: health check failed'; then what="health check failed"
	elif gw_console_has 'verity: .*corrupted'; then what="dm-verity: $(grep -o 'data block [0-9]* is corrupted' "$GW_LOG" | head -1)"
	elif gw_console_has 'rootfs-init: slot'; then what=$(grep -o 'rootfs-init: slot.*' "$GW_LOG" | head -1)
	else what="?"
	fi
	say "   boot $demo_boots: $BL booted slot ${slot:-?}, version ${ver:--} ran, $what; $GW_END after ${GW_SECS}s"
	[ "$DEMO_TAP" = 1 ] && [ "$what" = "?" ] && gw_describe
	return 0
}
# env_get VAR (GRUB's names): the bootloader environment as the
# bootloader's own host tool reads it (grub-editenv, fw_printenv);
# env_all: all of it.
env_get() {
	if [ "$DEMO_BOOTLOADER" = uboot ]; then
		case $1 in ORDER|A_LEFT|B_LEFT) set -- "BOOT_$1" ;; esac
		fw_printenv -c "$W/fw_env.config" -n "$1" 2>/dev/null
	else
		gw_env "$DISK" "$1"
	fi
}
env_all() {
	if [ "$DEMO_BOOTLOADER" = uboot ]; then fw_printenv -c "$W/fw_env.config"; else gw_env "$DISK"; fi
}
# status_get PYEXPR: over `rootfs-bootctl --disk DISK status --json` as s,
# with slot(X) the slot object of A or B.
status_get() {
	bootctl status --json | python3 -c "
import json, sys
s = json.load(sys.stdin)
def slot(x): return [o for o in s['slots'] if o['slot'].upper() == x][0]
print($1)"
}
bootctl() { # the host's rootfs-bootctl on the disk image
	if [ "$DEMO_BOOTLOADER" = uboot ]; then
		rootfs-bootctl --disk "$DISK" --fw-env-config "$W/fw_env.config" "$@"
	else
		rootfs-bootctl --disk "$DISK" "$@"
	fi
}
show_status() { # what rootfs-bootctl status says, indented
	local line
	bootctl status 2>&1 | sed "s|$W/||g" | while IFS= read -r line; do say "     | $line"; done
}
install_update() { # VERSION: rootfs-install into the inactive slot; prints its stderr
	local src=$W/v$1.upd
	[ "$DEMO_SOURCE" = https ] && src=https://localhost:$NGINX_OK/v$1.upd
	timeout 120 rootfs-install --config "$W/install.conf" --disk "$DISK" --progress=none \
		${NGINX_CA:+--tls-ca "$NGINX_CA"} "$src"
}
ran() { [ "$ver" = "$1" ]; }
booted() { [ "$slot" = "$1" ]; }

# ----------------------------------------------------------------- steps

step1() {
	step_begin 1 "factory disk, v1 in slot A; boot"
	boot factory
	expect "$BL picked slot A" booted a
	expect "rootfs-init verified A; v1's init ran on a read-only dm-verity root" \
		gw_console_has '^ROOTFS-DEMO: version 1 booted, root=/dev/(mapper/|dm-)[^ ]+ ro$'
	expect "v1 confirmed itself with rootfs-bootctl mark-good" gw_console_has 'ROOTFS-DEMO: marked good'
	expect_eq "the guest powered off" "$GW_END" poweroff
	expect_eq "$ENVN: A confirmed" "$(env_get ROOTFS_GOOD)" A
	expect_eq "$ENVN: A's attempts restored" "$(env_get A_LEFT)" 3
	expect_eq "$ENVN: rollback floor" "$(env_get ROOTFS_FLOOR)" 1
	step_end "v1 booted from A and confirmed"
}

step2() {
	step_begin 2 "install v2 ($DEMO_SOURCE) into slot B; boot"
	expect "rootfs-install v2 into the inactive slot B" install_update 2
	expect_eq "$ENVN: B tried first" "$(env_get ORDER)" "B A"
	expect_eq "$ENVN: B has 3 attempts" "$(env_get B_LEFT)" 3
	boot v2
	expect "$BL tried slot B" booted b
	expect "v2 verified and ran from B" ran 2
	expect "v2 confirmed itself" gw_console_has 'ROOTFS-DEMO: marked good'
	expect_eq "the guest powered off" "$GW_END" poweroff
	expect_eq "status: B primary" "$(status_get "slot('B')['primary']")" True
	expect_eq "status: B confirmed" "$(status_get "slot('B')['confirmed']")" True
	expect_eq "status: rollback floor" "$(status_get "s['floor']")" 2
	expect_eq "$ENVN: ROOTFS_GOOD" "$(env_get ROOTFS_GOOD)" B
	show_status
	step_end "v2 installed, tried, confirmed; floor 2"
}

step3() {
	local i
	step_begin 3 "install v3 (never confirms) into slot A; boot until $BL gives up"
	expect "rootfs-install v3 into the inactive slot A" install_update 3
	expect_eq "$ENVN: A tried first with 3 attempts" "$(env_get ORDER) $(env_get A_LEFT)" "A B 3"
	for i in 1 2 3; do
		boot "v3-try$i"
		expect "try $i: $BL tried slot A, v3 ran" eval 'booted a && ran 3'
		expect "try $i: v3's health check failed, it rebooted unconfirmed" \
			eval 'gw_console_has "health check failed" && [ "$GW_END" = reset ]'
		expect_eq "try $i: one attempt spent" "$(env_get A_LEFT)" $((3 - i))
	done
	boot fallback
	expect "$BL fell back to slot B by itself, v2 ran" eval 'booted b && ran 2'
	expect "v2 confirmed itself again" gw_console_has 'ROOTFS-DEMO: marked good'
	expect_eq "status: A (v3) abandoned (bad)" "$(status_get "slot('A')['version'], slot('A')['bad']")" "3 True"
	expect_eq "status: B primary and confirmed" "$(status_get "slot('B')['primary'], slot('B')['confirmed']")" "True True"
	expect_eq "status: floor still 2" "$(status_get "s['floor']")" 2
	show_status
	step_end "v3 abandoned after 3 tries; back on B (v2)"
}

step4() {
	local off before after n=0 outcome
	step_begin 4 "tamper with slot B's data on the disk; boot"
	off=$(status_get "slot('B')['offset']")
	# One byte in B's first data block (the ext4 superblock block), which
	# mounting the root reads: an attacker's or a bad flash's change.
	expect "flipped one byte of slot B's first data block" \
		python3 -c 'import sys
f = open(sys.argv[1], "r+b"); o = int(sys.argv[2]); f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 0xff]))' \
		"$DISK" $((off + 1100))
	outcome="?"
	# Boot until the device is on a good slot again or has none left: GRUB
	# spends B's attempts, then boots the last confirmed slot (B) unspent.
	while [ $n -lt 5 ]; do
		n=$((n + 1))
		before=$(env_all)
		boot "tampered$n"
		after=$(env_all)
		if ran 1 || ran 2 || ran 3; then outcome="fell back to slot $slot (v$ver)"; break; fi
		if [ "$before" = "$after" ]; then
			# The last resort: rootfs-init checks every block before it
			# activates anything, and says what is left.
			expect "boot $n: $BL said it boots the last confirmed slot with no attempts left, nothing spent" \
				gw_console_has 'rootfs-update: no slot has attempts left, booting the last confirmed slot'
			expect "boot $n: rootfs-init checked all of B and said no verified slot is left; nothing of B ran" \
				eval 'booted b && gw_console_has "rootfs-init: slot B: no verified slot is left: data block [0-9]+ of the last confirmed slot is corrupted" && [ -z "$ver" ]'
			outcome="no verified slot is left"
			break
		fi
		expect "boot $n: slot B refused: dm-verity found the corrupted block, nothing of B ran" \
			eval 'booted b && gw_console_has "verity: .*data block [0-9]+ is corrupted" && [ -z "$ver" ] && [ "$GW_END" = reset ]'
		if [ $n -le 3 ]; then
			expect_eq "boot $n: $ENVN: one of B's attempts spent" "$(env_get B_LEFT)" $((3 - n))
		fi
	done
	expect "the device is left with no verified slot: A (v3) abandoned, B refused by dm-verity" \
		eval '[ "$outcome" = "no verified slot is left" ] && [ "$(env_get A_LEFT) $(env_get B_LEFT)" = "0 0" ]'
	say "   the gateway's last boot said:"
	grep -E 'rootfs-update: |rootfs-init: |verity: .*corrupted|\] reboot: ' "$GW_LOG" | sed 's/^\[ *[0-9.]*\] //' |
		while IFS= read -r line; do say "     | $line"; done
	say "   => $outcome: A (v3) never confirms, B (v2) fails dm-verity"
	step_end "B refused by dm-verity; $outcome"
}

step5() {
	local env_before rc
	step_begin 5 "install v1 again"
	env_before=$(env_all)
	install_update 1 2>"$W/downgrade.err"
	rc=$?
	say "   rootfs-install said: $(head -1 "$W/downgrade.err")"
	expect_eq "rootfs-install refused it as a downgrade (exit 5)" "$rc" 5
	expect "one line on stderr naming the downgrade" \
		eval '[ "$(wc -l <"$W/downgrade.err")" = 1 ] && grep -qi "downgrade\|rollback\|floor\|older" "$W/downgrade.err"'
	expect "boot environment unchanged" test "$env_before" = "$(env_all)"
	expect_eq "slot A still holds v3" "$(status_get "slot('A')['version']")" 3
	step_end "v1 refused as a downgrade (floor 2)"
}

demo_summary() {
	local row
	say ""
	say "== summary ($demo_boots boots, $(( $(date +%s) - demo_t0 ))s)"
	say "$(printf '%-2s %-48s %-4s %5s %7s' '#' 'what happened' 'ok?' 'boots' 'time')"
	for row in "${summary[@]}"; do say "$row"; done
}

demo_main() {
	local failed=0
	demo_t0=$(date +%s)
	if ! demo_prepare; then
		say "demo: preparation failed"
		return 1
	fi
	# Each step starts from the state the one before left: after a
	# failure the rest would only fail too (and spend boots), so stop.
	for s in $DEMO_STEPS; do
		if [ $failed = 1 ]; then
			summary+=("$(printf '%-2s %-48s %-4s' "${s#step}" "not run (an earlier step failed)" "-")")
			continue
		fi
		"$s"
		[ $step_failed = 0 ] || failed=1
	done
	demo_summary
	return $failed
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	[ "$(id -u)" = 0 ] || echo "demo: not root: updates come from files, not HTTPS" >&2
	DEMO_DIR=${DEMO_DIR:-$TOP/$B/demo}
	if demo_main; then
		echo "demo: every step behaved as described"
		exit 0
	fi
	echo "demo: some step did not behave as described (logs in $W/logs)"
	exit 1
fi
