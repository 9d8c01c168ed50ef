# test_projector_crash.sh: exactly once into PostgreSQL. The projector is killed with SIGKILL in
# the middle of a stream of batches and restarted; the tables equal those of an uninterrupted
# run (a rebuild from offset 0), and events resent to the log after the restart (byte-identical
# copies, as a producer resending its spool would) are recognised and change nothing.
source "$(dirname "$0")/lib.sh"

A=352039
N=20000 # births, then relocations of the first M
M=5000
jk admin init >/dev/null
jk cs enroll --municipality $A >/dev/null
S="${JUKILOG_NAMESPACE}_35"

awk -v n=$N -v m=$M -v a=$A 'function chk(d, k,   i, s, r, w) { split(k == 10 ? "6 5 4 3 2 7 6 5 4 3" : "6 5 4 3 2 7 6 5 4 3 2", w, " ")
        s = 0; for (i = 1; i <= k; i++) s += w[i] * substr(d, i, 1); r = s % 11; return d (r <= 1 ? 0 : 11 - r) }
    function rec(i, reason, eff, addr) {
        printf "{\"resident_code\":\"%s\",\"my_number\":\"%s\",\"reason\":\"%s\",\"effective_date\":\"%s\",\"name\":\"住民　%d\",\"name_kana\":\"ジュウミン\",\"birth_date\":\"2026-04-01\",\"sex\":\"%d\",\"address\":\"%s\",\"municipality_code\":\"%s\",\"notified_at\":\"2026-06-01T03:00:00Z\"}\n",
            chk(sprintf("2%09d", i), 10), chk(sprintf("3%010d", i), 11), reason, eff, i, 1 + i % 2, addr, a }
    BEGIN { for (i = 1; i <= n; i++) rec(i, "birth", "2026-04-01", "山口県山口市中央" i "番")
            for (i = 1; i <= m; i++) rec(i, "relocation", "2026-05-01", "山口県山口市小郡" i "番") }' >"$T/changes.jsonl"
jk cs send --municipality $A "$T/changes.jsonl" >"$T/send.out"
assert_eq "$(grep -c '"status":"sent"' "$T/send.out")" $((N + M)) "sent"

# kill_mid_load ARGS...: runs the projector with ARGS, kills it with SIGKILL once 2,000 events
# are committed (or after 30 s), and prints how many events are committed.
kill_mid_load() {
    "$JUKILOG" projector "$@" >/dev/null 2>&1 &
    local pid=$! n
    for _ in $(seq 1 600); do
        n=$(psql_q "SELECT count(*) FROM $S.events" 2>/dev/null || echo 0)
        [ "${n:-0}" -ge 2000 ] && break
        sleep 0.05
    done
    kill -9 $pid
    wait $pid 2>/dev/null || true
    psql_q "SELECT count(*) FROM $S.events"
}

step "projector killed with SIGKILL mid-stream"
done_n=$(kill_mid_load --batch 500)
echo "events committed when killed: $done_n"
[ "$done_n" -ge 2000 ] && [ "$done_n" -lt $((N + M)) ] || fail "the kill should land mid-stream ($done_n)"
assert_eq "$(psql_q "SELECT count(DISTINCT event_id) FROM $S.history")" \
    "$(psql_q "SELECT count(*) FROM $S.events WHERE outcome = 'applied'")" "history matches the committed events"

step "restart: the rest, exactly once"
assert_status 0 jk projector --until-caught-up
assert_eq "$(psql_q "SELECT count(*) FROM $S.events")" $((N + M)) "events"
assert_eq "$(psql_q "SELECT count(*) FROM $S.events WHERE outcome = 'applied'")" $((N + M)) "all applied"
assert_eq "$(psql_q "SELECT count(*), sum(version) FROM $S.identity")" "$N|$((N + M))" "persons and versions"
assert_eq "$(psql_q "SELECT count(*) FROM $S.history")" $((N + M)) "history rows"
dump_tables >"$T/restarted.dump"

step "resent copies of events already applied"
jk journal read --topic identity --until-caught-up >"$T/read.jsonl"
sed -n '1,3p' "$T/read.jsonl" | jq -r '[.event.subject, (.event | tojson)] | join("\t")' >"$T/copies.tsv"
assert_eq "$(wc -l <"$T/copies.tsv")" 3 "copies"
kcat -P -b "$JUKILOG_BROKERS" -t "${JUKILOG_NAMESPACE}.35.identity" -K $'\t' <"$T/copies.tsv"
assert_status 0 jk projector --until-caught-up
assert_contains "$OUT" '"events":0,' "nothing processed"
assert_contains "$OUT" '"duplicates":3,' "3 duplicates recognised"
dump_tables >"$T/after-copies.dump"
cmp "$T/restarted.dump" "$T/after-copies.dump" || fail "the copies changed the tables"

step "an uninterrupted run gives the same tables"
assert_status 0 jk projector --rebuild --until-caught-up
assert_contains "$OUT" "\"events\":$((N + M)),\"applied\":$((N + M)),\"superseded\":0,\"rejected\":0,\"duplicates\":3," "rebuild summary"
dump_tables >"$T/rebuilt.dump"
cmp "$T/restarted.dump" "$T/rebuilt.dump" || fail "killed-and-restarted tables differ from a rebuild"
jk replay --out "$T/replay.jsonl" 2>/dev/null
jk identity export >"$T/export.jsonl"
cmp "$T/replay.jsonl" "$T/export.jsonl" || fail "replay differs from the tables"

step "a rebuild killed mid-load: the next start builds the indexes it had put off"
all_indexes=$(schema_indexes)
done_n=$(kill_mid_load --rebuild --batch 500)
[ "$done_n" -ge 2000 ] && [ "$done_n" -lt $((N + M)) ] || fail "the kill should land mid-rebuild ($done_n)"
assert_eq "$(schema_indexes)" "aliases_pkey chain_heads_pkey consumer_offsets_pkey events_pkey history_pkey identity_pkey projector_cuts_pkey projector_notices_pkey projector_segments_pkey" "indexes while rebuilding"
assert_status 0 jk projector --until-caught-up
assert_eq "$(schema_indexes)" "$all_indexes" "indexes after the restart"
dump_tables >"$T/rebuilt-restarted.dump"
cmp "$T/restarted.dump" "$T/rebuilt-restarted.dump" || fail "a killed and restarted rebuild differs"
echo "PASS"
