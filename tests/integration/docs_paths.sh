#!/usr/bin/env bash
# Every repository path the documentation names exists: README.md and docs/*.md cite files and
# directories in `code spans` and [links](...); one that was renamed or never written sends a
# reader (or an auditor following docs/security.md) nowhere. Paths with placeholders
# (NNN, <lot_id>, *, {a,b}, $VAR) and paths outside the repository are not checked; the start
# of a file name (`schema/001`) counts as naming that file.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
cd "$PF_SOURCE_DIR"

top='(tests|testdata|docs|daemon|tools|schema|config|fuzz|bench|scripts|systemd|packaging|include|api|debian)'
missing=()
for doc in README.md docs/*.md; do
	while IFS= read -r path; do
		[[ $path =~ (NNN|YYYY|[*\<\>{}$]) ]] && continue
		path=${path%%#*}
		path=${path%:*[0-9]}     # file:LINE
		# a file, a directory, or the start of a name (`schema/001` for 001_base.sql)
		[[ -e $path ]] || compgen -G "$path*" >/dev/null || missing+=("$doc: $path")
	done < <(grep -oE "(\`|\]\()$top/[^\` )]*" "$doc" | sed -E 's/^(`|\]\()//' | sort -u)
done
(( ${#missing[@]} == 0 )) || pf_fail "paths named in the docs that do not exist: $(printf '\n  %s' "${missing[@]}")"
pf_pass
