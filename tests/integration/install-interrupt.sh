#!/usr/bin/env bash
# Interrupted installs: rootfs-install is killed with SIGKILL at 20 moments
# spread over a 256 MiB install (while it verifies the head, at every 5% of
# the payload as its --progress=json lines report, and once the payload is
# in while it writes the tree, footer and environment). After each kill
# the environment must still boot A (ROOTFS_GOOD=A and A the first slot
# with attempts left); at the end slot A is byte-for-byte unchanged and a
# fresh install succeeds.
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/testkeys.sh"
testkeys "$TOP/$B/testkeys" || { not_ok "testkeys"; finish; }
. "$TOP/tests/lib/install.sh"
D=$T/disk.img

mkfs a 16M && mkfs big 256M || { not_ok "mkfs"; finish; }
mkupd a a 1 && mkupd big big 2 || { not_ok "rootfs-image create"; finish; }
check "rootfs-image disk" rootfs-image disk -o "$D" --slot-a "$T/a.upd" --slot-size 272M --keyring "$TK/keyring"
for n in 1 2 3; do part "$D" "$n"; done # cached here, in the main shell
A0=$(slot_sha "$D" 2)

# boots_a: what the boot script picks is A: the first slot of ORDER with
# attempts left, or with none left the good slot; and A is the good slot
boots_a() {
	local e order s first=""
	e=$(grubenv "$D")
	grep -qx 'ROOTFS_GOOD=A' <<<"$e" || return 1
	order=$(sed -n 's/^ORDER=//p' <<<"$e")
	for s in $order; do
		[ "$(sed -n "s/^${s}_LEFT=//p" <<<"$e")" -gt 0 ] 2>/dev/null && { first=$s; break; }
	done
	[ -z "$first" ] || [ "$first" = A ]
}

# kill_at PCT: start an install; SIGKILL it once its progress reaches PCT
# percent (-1: 20 ms after the start, while it reads and verifies the head).
# Prints the installer's exit status (137 when the kill landed).
kill_at() {
	local line pid
	coproc INST { exec rootfs-install --config "$T/inst.conf" --disk "$D" --progress=json "$T/big.upd" 2>/dev/null; }
	pid=$INST_PID
	if [ "$1" -lt 0 ]; then
		sleep 0.02
		kill -KILL "$pid"
	else
		while read -r line <&"${INST[0]}"; do
			if [[ $line =~ \"percent\":([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge "$1" ]; then
				kill -KILL "$pid"
				break
			fi
		done
	fi
	wait "$pid"
	echo $?
}

for pct in -1 0 5 10 15 20 25 30 35 40 45 50 55 60 65 70 75 80 85 100; do
	rc=$(kill_at "$pct")
	check_eq "killed at ${pct}%: the kill landed" "$rc" 137
	check "killed at ${pct}%: the environment still boots A" boots_a
done
check_eq "slot A unchanged after 20 kills" "$(slot_sha "$D" 2)" "$A0"
check "a fresh install then succeeds" rootfs-install --config "$T/inst.conf" --disk "$D" --progress=none "$T/big.upd"
check "slot B verifies with the signed root hash" verify_slot "$D" 3 "$T/big.upd"
check_eq "and is tried next" "$(envvar "$D" ORDER) $(envvar "$D" B_LEFT)" "B A 3"
finish
