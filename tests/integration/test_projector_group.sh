# test_projector_group.sh: a group of projectors (`projector --group`) writes exactly the tables
# of a single projector. The log: a synthetic prefecture (jukilog gen: every municipality's CS
# sending at once, faults included), and crafted resident_code_changes whose new codes live on
# other partitions, followed at once by changes under the new codes, renamed again, and contested
# by another CS's births of the same new codes sent at the same time. A single projector starts
# and is killed; two members go on from where it stopped, a third joins mid-stream (a rebalance),
# one is killed with SIGKILL mid-stream and started again, another is frozen (SIGSTOP) until the
# group has given its partitions to the others and then thawed, a zombie whose commit must not
# count; then the dumped tables equal those of `projector --rebuild` byte for byte, each notice to
# a CS went out, and a single projector refuses to go on from a group's state.
source "$(dirname "$0")/lib.sh"

A=352039 B=352012 # 山口市, 下関市
N=240             # crafted persons
jk admin init --partitions 4 >/dev/null
S="${JUKILOG_NAMESPACE}_35"
# The fence compares each partition's stored offset with what the member stored last: sound only
# if a stored offset never goes back (projector_group.c, 2). A member starting over from an
# earlier cut once stored the positions it counted again, below what was committed.
psql "$JUKILOG_PG" -Xq -v ON_ERROR_STOP=1 <<SQL
CREATE FUNCTION $S.offset_went_back() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    RAISE EXCEPTION 'the stored offset of partition % went back from % to %',
        NEW.partition, OLD.next_offset, NEW.next_offset;
END \$\$;
CREATE TRIGGER offset_never_back BEFORE UPDATE ON $S.consumer_offsets FOR EACH ROW
    WHEN (NEW.consumer = 'projector' AND NEW.next_offset < OLD.next_offset)
    EXECUTE FUNCTION $S.offset_went_back();
SQL

step "the log"
jk gen --residents 2500 --years 1 --seed 11 --out "$T/gen" >/dev/null
# X_i born at A; then X_i -> Y_i and a relocation under Y_i; every third Y_i -> Z_i and a
# relocation under Z_i (part 2); meanwhile B's births of every fifth Y_i (part 3). And every
# fourth i: V_i born (part 1), then a birth of W_i and at once V_i -> W_i, which must meet W_i
# (code_exists: the member applying the rename waits for the one applying the birth), and a
# relocation under V_i.
crafted() {
    awk -v part="$1" -v n=$N -v a=$A -v b=$B '
    function chk(d, k,   i, s, r, w) { split(k == 10 ? "6 5 4 3 2 7 6 5 4 3" : "6 5 4 3 2 7 6 5 4 3 2", w, " ")
        s = 0; for (i = 1; i <= k; i++) s += w[i] * substr(d, i, 1); r = s % 11; return d (r <= 1 ? 0 : 11 - r) }
    function rec(code, i, reason, eff, addr, muni, extra) {
        printf "{\"resident_code\":\"%s\",\"my_number\":\"%s\",\"reason\":\"%s\",\"effective_date\":\"%s\",\"name\":\"改名　%d\",\"name_kana\":\"カイメイ\",\"birth_date\":\"2026-04-01\",\"sex\":\"%d\",\"address\":\"%s\",\"municipality_code\":\"%s\",\"notified_at\":\"2026-06-01T03:00:00Z\"%s}\n",
            code, chk(sprintf("7%010d", i), 11), reason, eff, i, 1 + i % 2, addr, muni, extra }
    function X(i) { return chk(sprintf("7%09d", i), 10) }
    function Y(i) { return chk(sprintf("8%09d", i), 10) }
    function Z(i) { return chk(sprintf("9%09d", i), 10) }
    function V(i) { return chk(sprintf("6%09d", i), 10) }
    function W(i) { return chk(sprintf("5%09d", i), 10) }
    function to(c) { return ",\"new_resident_code\":\"" c "\"" }
    BEGIN { for (i = 1; i <= n; i++) {
        if (part == 1) rec(X(i), i, "birth", "2026-04-01", "山口県山口市中央" i "番", a, "")
        if (part == 1 && i % 4 == 0) rec(V(i), i, "birth", "2026-04-01", "山口県山口市中央" i "番", a, "")
        if (part == 2) {
            rec(X(i), i, "resident_code_change", "2026-05-01", "山口県山口市中央" i "番", a, to(Y(i)))
            rec(Y(i), i, "relocation", "2026-05-02", "山口県山口市小郡" i "番", a, "")
            if (i % 3 == 0) {
                rec(Y(i), i, "resident_code_change", "2026-05-03", "山口県山口市小郡" i "番", a, to(Z(i)))
                rec(Z(i), i, "relocation", "2026-05-04", "山口県山口市湯田" i "番", a, "")
            }
            if (i % 4 == 0) {
                rec(W(i), i, "birth", "2026-05-01", "山口県山口市大内" i "番", a, "")
                rec(V(i), i, "resident_code_change", "2026-05-01", "山口県山口市中央" i "番", a, to(W(i)))
                rec(V(i), i, "relocation", "2026-05-02", "山口県山口市小郡" i "番", a, "")
            }
        }
        if (part == 3 && i % 5 == 0) rec(Y(i), i, "birth", "2026-05-01", "山口県下関市竹崎町" i "番", b, "")
    } }'
}
crafted 1 >"$T/a1.jsonl"
crafted 2 >"$T/a2.jsonl"
crafted 3 >"$T/b3.jsonl"
# One file per municipality, its periods in order; four CSs sending at a time.
for f in "$T"/gen/periods/0000-initial/*.jsonl; do
    m=$(basename "$f" .jsonl)
    jk cs enroll --municipality "$m" >/dev/null
    cat "$T"/gen/periods/*/"$m.jsonl" >"$T/m$m.jsonl"
done
cat "$T/a1.jsonl" >>"$T/m$A.jsonl"
send() { jk cs send --municipality "$1" "$2" >"$2.out" || [ $? == 1 ]; } # 1: some lines invalid
pids=()
for f in "$T"/m*.jsonl; do
    m=$(basename "$f" .jsonl)
    send "${m#m}" "$f" &
    pids+=($!)
    if [ ${#pids[@]} -ge 4 ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done
send $A "$T/a2.jsonl" &
p2=$!
send $B "$T/b3.jsonl"
wait $p2
TOTAL=$(jk journal read --topic identity --until-caught-up | wc -l)
echo "events in the log: $TOTAL"
[ "$TOTAL" -gt 3000 ] || fail "too few events ($TOTAL)"

events() { psql_q "SELECT count(*) FROM $S.events" 2>/dev/null || echo 0; }
MEMBERS=()
wait_events() { # wait_events N: until at least N events are committed (60 s at most)
    for _ in $(seq 1 1200); do
        [ "$(events)" -ge "$1" ] && return 0
        for m in "${MEMBERS[@]}"; do
            kill -0 "${m#*:}" 2>/dev/null || fail "member ${m%:*} ended: $(cat "$T/${m%:*}.err")"
        done
        sleep 0.05
    done
    fail "fewer than $1 events committed after 60 s ($(events)): $(tail -n 3 "$T"/m?.err)"
}
member() { # member NAME: a member in the background, its summary in $T/NAME.out
    JUKILOG_PG="$JUKILOG_PG application_name=$JUKILOG_NAMESPACE-$1" \
        "$JUKILOG" projector --group --until-caught-up --batch 40 >"$T/$1.out" 2>"$T/$1.err" &
}
in_batch() { # in_batch NAME: the member's connection is inside a transaction
    [ "$(psql_q "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$JUKILOG_NAMESPACE-$1' AND xact_start IS NOT NULL")" -gt 0 ]
}

step "a single projector, killed; a group goes on from where it stopped"
"$JUKILOG" projector --batch 200 >/dev/null 2>&1 &
P=$!
wait_events $((TOTAL / 10))
kill -9 $P
wait $P 2>/dev/null || true
echo "events committed by the single projector: $(events)"

step "two members, a third joining mid-stream, one killed with SIGKILL and started again"
member m1
M1=$!
member m2
M2=$!
MEMBERS=(m1:$M1 m2:$M2)
wait_events $((TOTAL / 5))
member m3
M3=$!
MEMBERS+=(m3:$M3)
wait_events $((TOTAL * 2 / 5))
kill -9 $M2
wait $M2 2>/dev/null || true
killed_at=$(events)
echo "events committed when m2 was killed: $killed_at"
[ "$killed_at" -lt "$TOTAL" ] || fail "the kill should land mid-stream ($killed_at of $TOTAL)"
member m2b
M2B=$!
MEMBERS=(m1:$M1 m3:$M3 m2b:$M2B)
# Not much further: the next step needs a member inside a batch, so work left for a while.
wait_events $((TOTAL / 2))

step "a member frozen in the middle of a batch past the session timeout, then thawed"
# Frozen inside a transaction, its partitions' offsets locked: the members that take them over
# wait for that batch, then go on from its end (a commit under way when a member is refused goes
# through only if the partition's offset is still what that member stored last).
# To catch a member there whatever the timing, the test holds the events table (EXCLUSIVE:
# reads go on, writes wait) while work is left: every member that applies a batch stops at its
# insert, inside the batch's transaction; one of them is frozen (SIGSTOP), then the table is let
# go. (Sampling pg_stat_activity for a member inside a batch instead missed them all, once.)
LOCKER="$JUKILOG_NAMESPACE-locker"
psql "$JUKILOG_PG application_name=$LOCKER" -Xq -c "BEGIN" \
    -c "LOCK TABLE $S.events IN EXCLUSIVE MODE" -c "SELECT pg_sleep(300)" >/dev/null 2>&1 &
L=$!
at_exit "kill $L 2>/dev/null"
unlock() {
    psql_q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$LOCKER'" >/dev/null
    wait $L 2>/dev/null || true
}
waiting_member() { # a member whose transaction waits for a lock
    psql_q "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE '$JUKILOG_NAMESPACE-m%' AND xact_start IS NOT NULL AND wait_event_type = 'Lock' ORDER BY 1 LIMIT 1"
}
frozen=
for _ in $(seq 1 600); do
    w=$(waiting_member)
    for m in "${MEMBERS[@]}"; do
        [ "$w" == "$JUKILOG_NAMESPACE-${m%:*}" ] && frozen=$m && break 2
    done
    sleep 0.05
done
if [ -z "$frozen" ]; then
    alive=
    for m in "${MEMBERS[@]}"; do kill -0 "${m#*:}" 2>/dev/null && alive+=" ${m%:*}"; done
    unlock
    fail "no member stopped inside a batch while the events table was held ($(events) of $TOTAL events committed; running:${alive:- none})"
fi
kill -STOP "${frozen#*:}"
in_batch "${frozen%:*}" || fail "${frozen%:*} was frozen outside a batch"
unlock
stopped_at=$(events)
sleep 12
kill -CONT "${frozen#*:}"
echo "events committed while ${frozen%:*} was frozen: $(($(events) - stopped_at))"
for m in $M1 $M3 $M2B; do
    wait $m || fail "a member failed: $(cat "$T"/m?.err "$T"/m2b.err)"
done
for m in m1 m3 m2b; do echo "$m: $(cat "$T/$m.out")"; done
echo "commits refused: $(cat "$T"/m?.err "$T"/m2b.err | grep -c "taken over" || true)"
assert_eq "$(events)" "$TOTAL" "events processed"
assert_eq "$(psql_q "SELECT count(*), min(n), max(n) FROM $S.events")" "$TOTAL|1|$TOTAL" "one number each"
holds=$(cat "$T/m1.out" "$T/m3.out" "$T/m2b.out" | jq -s 'map(.holds) | add')
[ "$holds" -gt 0 ] || fail "no member ever waited for another: the renames did not cross members"
dump_tables >"$T/group.dump"

step "the notices: one for each rejection and superseded move_out"
jk journal read --topic outcomes --until-caught-up >"$T/outcomes.jsonl"
assert_eq "$(jq -r '.event.data.event_id' "$T/outcomes.jsonl" | sort -u | wc -l)" \
    "$(psql_q "SELECT count(*) FROM $S.events WHERE outcome <> 'applied' AND source <> ''")" "notices"

step "a single projector does not go on from a group's state"
assert_status 2 jk projector --until-caught-up
assert_contains "$ERR" "last written by a group" "refusal"

step "a single projector's rebuild gives the same tables"
assert_status 0 jk projector --rebuild --until-caught-up
dump_tables >"$T/rebuilt.dump"
psql_q "SELECT outcome, code, count(*) FROM $S.events GROUP BY 1, 2 ORDER BY 1, 2"
cmp "$T/group.dump" "$T/rebuilt.dump" || fail "the group's tables differ from a rebuild: $(diff "$T/group.dump" "$T/rebuilt.dump" | head -6)"
assert_eq "$(psql_q "SELECT count(*) FROM $S.aliases")" "$(psql_q "SELECT count(*) FROM $S.events WHERE reason = 'resident_code_change' AND outcome = 'applied'")" "aliases"
echo "PASS"
