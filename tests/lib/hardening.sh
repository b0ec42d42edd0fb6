# tests/lib/hardening.sh: what Debian's hardening=+all leaves in an ELF executable, read with
# readelf (binutils) the way devscripts' hardening-check reads it.
#
#   source "$(dirname "$0")/../lib/hardening.sh"
#   pf_hardening_check FILE [nofortify] [symbols=DEBUGFILE]
#
# prints one line per missing property and returns 1 if there is any. symbols= names the
# separate debug file of a stripped FILE (from the -dbgsym package), where main is found.
#
# Checked: position-independent executable (PIE), read-only relocations (RELRO) resolved at
# start (BIND_NOW), a non-executable stack, the stack protector (__stack_chk_fail imported),
# glibc's checked functions (_FORTIFY_SOURCE: some __*_chk imported; skipped with nofortify,
# as under AddressSanitizer) and, on x86-64, control-flow protection (main begins with
# endbr64, read with objdump). Debian 12's C runtime objects carry no IBT/SHSTK property, so
# no executable linked there is marked with one, however it was compiled: the instruction is
# what can be checked. -fstack-clash-protection leaves nothing that can be told apart.

pf_hardening_check() {
	local f=$1 fortify=1 symbols=$1 bad=() head segs dyn syms main first b arg
	shift
	for arg in "$@"; do
		case $arg in
		nofortify) fortify=0 ;;
		symbols=*) symbols=${arg#symbols=} ;;
		*) echo "pf_hardening_check: unknown argument $arg"; return 1 ;;
		esac
	done
	command -v readelf >/dev/null || { echo "$f: readelf missing: install binutils"; return 1; }
	[[ -f $f ]] || { echo "$f: no such file"; return 1; }

	# Whole outputs into variables and no grep -q at the end of a pipe: one that stops
	# reading early makes the writer fail with SIGPIPE, which pipefail reports.
	head=$(readelf -hW "$f" 2>&1)
	segs=$(readelf -lW "$f" 2>&1)
	dyn=$(readelf -dW "$f" 2>&1)
	syms=$(readelf --dyn-syms -W "$f" 2>&1)
	grep -Eq 'Type:[[:space:]]+DYN' <<<"$head" && grep -Eq 'FLAGS_1.*\bPIE\b' <<<"$dyn" ||
		bad+=("not a position-independent executable (PIE)")
	grep -q 'GNU_RELRO' <<<"$segs" || bad+=("no RELRO segment")
	grep -Eq '\(FLAGS\).*\bBIND_NOW\b|\(FLAGS_1\).*\bNOW\b' <<<"$dyn" ||
		bad+=("no BIND_NOW (link with -z now)")
	grep -Eq 'GNU_STACK.* RW  ' <<<"$segs" || bad+=("executable stack")
	grep -Eq ' UND __stack_chk_fail' <<<"$syms" || bad+=("no stack protector (__stack_chk_fail)")
	if (( fortify )); then
		grep -Eq ' UND __[a-z0-9_]+_chk(@|$)' <<<"$syms" ||
			bad+=("no fortified functions (__*_chk): built without _FORTIFY_SOURCE or optimisation")
	fi
	if [[ $head =~ Machine:[[:space:]]+[^$'\n']*X86-64 ]]; then
		main=$(readelf -sW "$symbols" 2>/dev/null | awk '$4 == "FUNC" && $8 == "main" {print $2; exit}')
		if [[ -z $main ]]; then
			bad+=("no symbol main in $symbols to check control-flow protection at")
		else
			first=$(objdump -d --no-show-raw-insn --start-address=$((16#$main)) \
				--stop-address=$((16#$main + 4)) "$f" 2>/dev/null)
			[[ $first == *endbr64* ]] ||
				bad+=("no control-flow protection (main does not begin with endbr64: -fcf-protection)")
		fi
	fi

	(( ${#bad[@]} == 0 )) && return 0
	for b in "${bad[@]}"; do
		printf '%s: %s\n' "$f" "$b"
	done
	return 1
}
