# lib.sh: what every integration test shares. Sourced, not run.
#
# Each test runs against the real stack of ops/stack (started by ops/test), in a namespace of
# its own (JUKILOG_NAMESPACE) with a JUKILOG_HOME of its own, both removed when it ends.
set -euo pipefail

: "${JUKILOG:?JUKILOG must name the jukilog binary (ctest sets it)}"
: "${JK_SOURCE_DIR:?JK_SOURCE_DIR must name the source tree (ctest sets it)}"
export JUKILOG_BROKERS="${JUKILOG_BROKERS:-127.0.0.1:9092}"
export JUKILOG_PG="${JUKILOG_PG:-host=127.0.0.1 port=55432 dbname=jukilog user=jukilog}"
export JUKILOG_NAMESPACE="t$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export JUKILOG_HOME
JUKILOG_HOME="$(mktemp -d /tmp/jukilog-test.XXXXXX)"
T="$JUKILOG_HOME" # scratch files go here too
JK_ZERO_HASH=0000000000000000000000000000000000000000000000000000000000000000

jk() { "$JUKILOG" "$@"; }

# at_exit 'COMMANDS': run when the test ends, before the cleanup, the last added first (a
# process the test started, a second namespace). The test's exit status is kept whatever they
# return: a test adds its own commands here, never a trap of its own.
exit_commands=()
at_exit() { exit_commands=("$1" "${exit_commands[@]}"); }

# JK_KEEP=1 keeps the namespace and JUKILOG_HOME of a test, for looking into after a failure.
cleanup() {
    local rc=$? c
    set +e
    for c in "${exit_commands[@]}"; do eval "$c"; done
    if [ -n "${JK_KEEP:-}" ]; then
        echo "kept: JUKILOG_NAMESPACE=$JUKILOG_NAMESPACE JUKILOG_HOME=$JUKILOG_HOME" >&2
        exit $rc
    fi
    "$JUKILOG" admin drop --confirm "$JUKILOG_NAMESPACE" >/dev/null 2>&1 || true
    rm -rf "$JUKILOG_HOME"
    exit $rc
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
step() { echo "== [${SECONDS}s] $*"; }

# assert_eq ACTUAL EXPECTED WHAT
assert_eq() {
    [ "$1" == "$2" ] || fail "$3: expected [$2], got [$1]"
}

# assert_status EXPECTED_RC CMD...: runs CMD, keeping its stdout in $OUT and stderr in $ERR.
assert_status() {
    local want=$1
    shift
    set +e
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    set -e
    OUT=$(cat "$T/out")
    ERR=$(cat "$T/err")
    [ "$rc" == "$want" ] || fail "$* exited $rc, expected $want; stderr: $ERR"
}

# assert_contains TEXT NEEDLE WHAT
assert_contains() {
    case "$1" in
    *"$2"*) ;;
    *) fail "$3: [$2] not found in [$1]" ;;
    esac
}

# An event spec per line for `journal append`: N events with subjects from a given offset.
make_events() { # make_events N FIRST_SUBJECT_NUMBER
    awk -v n="$1" -v s="$2" 'BEGIN { for (i = 0; i < n; i++)
        printf "{\"type\":\"demo.noted\",\"subject\":\"%011d\",\"data\":{\"n\":%d,\"note\":\"住民 %d\"}}\n", s + i, i + 1, i + 1 }'
}

psql_q() { psql "$JUKILOG_PG" -XAtq -c "$1"; }

# Resident code (10 digits + check) and my number (11 + check), DOMAIN.md "Check digits".
rcode() { awk -v d="$1" 'BEGIN { split("6 5 4 3 2 7 6 5 4 3", w, " "); s = 0
    for (i = 1; i <= 10; i++) s += w[i] * substr(d, i, 1); r = s % 11; printf "%s%d\n", d, (r <= 1 ? 0 : 11 - r) }'; }
mynum() { awk -v d="$1" 'BEGIN { split("6 5 4 3 2 7 6 5 4 3 2", w, " "); s = 0
    for (i = 1; i <= 11; i++) s += w[i] * substr(d, i, 1); r = s % 11; printf "%s%d\n", d, (r <= 1 ? 0 : 11 - r) }'; }

# chg PERSON_JSON REASON EFFECTIVE_DATE: a change record carrying the whole record, notified at
# noon JST of the effective date.
chg() { jq -c --arg r "$2" --arg e "$3" '. + {reason: $r, effective_date: $e, notified_at: ($e + "T03:00:00Z")}' <<<"$1"; }
# rm_chg PERSON_JSON REASON EFFECTIVE_DATE MUNICIPALITY: a remove, with the least it must carry.
rm_chg() { jq -c --arg r "$2" --arg e "$3" --arg m "$4" '{resident_code, reason: $r, effective_date: $e,
    municipality_code: $m, notified_at: ($e + "T03:00:00Z")}' <<<"$1"; }

# Full dumps of the projector's tables, for comparing two builds byte for byte.
dump_tables() {
    local s="${JUKILOG_NAMESPACE}_35"
    psql "$JUKILOG_PG" -XAtq \
        -c "COPY (SELECT * FROM $s.identity ORDER BY resident_code) TO STDOUT" \
        -c "COPY (SELECT * FROM $s.history ORDER BY resident_code, version) TO STDOUT" \
        -c "COPY (SELECT * FROM $s.events ORDER BY n) TO STDOUT" \
        -c "COPY (SELECT * FROM $s.aliases ORDER BY old_code) TO STDOUT"
}

# The names of the tenant's indexes, on one line.
schema_indexes() {
    psql "$JUKILOG_PG" -XAtq -c "SELECT string_agg(indexname, ' ' ORDER BY indexname) FROM pg_indexes WHERE schemaname = '${JUKILOG_NAMESPACE}_35'"
}
