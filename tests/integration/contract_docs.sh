#!/usr/bin/env bash
# docs/contract.md and docs/contract.zh.md against docs/schema/ and the code: both languages
# carry the same examples; each is valid or invalid against its JSON Schema as it says; every
# reason code the daemon or the schema can store is in both reason tables, and nothing else is.
# No servers: tests/tools/contract_examples.py docs.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
pf_env_init
/usr/bin/python3 -c 'import jsonschema' 2>/dev/null ||
	pf_fail "python3-jsonschema is not installed: run scripts/deps.sh"
/usr/bin/python3 "$PF_SOURCE_DIR/tests/tools/contract_examples.py" docs >"$PF_TMP/docs.out" ||
	pf_fail "the contract's examples, schemas or reason tables disagree (see above)"
pf_log "$(cat "$PF_TMP/docs.out")"
pf_pass
