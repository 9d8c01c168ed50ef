# test_broker_outage.sh: the broker dies in the middle of a send. The producer keeps what was not
# confirmed in its spool and says so; after the broker is back, the spool is sent, and a reader
# sees every event exactly once, each source's events in order within each partition.
source "$(dirname "$0")/lib.sh"
STACK="$JK_SOURCE_DIR/ops/stack"
VAR="${JK_VAR:-$JK_SOURCE_DIR/var}"

restart_broker() { "$STACK" kafka-start >/dev/null; }
at_exit '"$STACK" status >/dev/null 2>&1 || restart_broker'

N=100000
jk admin init >/dev/null
jk cs enroll --municipality 352039 >/dev/null
jk operator add --id sato --department kenko_fukushi --role staff --purposes b5.child_rearing_allowance >/dev/null
make_events $N 1 >"$T/events.jsonl"

step "append $N events; kill -9 the broker once the first batch is confirmed"
jk journal append --as cs:352039 --topic identity -X message.timeout.ms=5000 "$T/events.jsonl" \
    >"$T/append.out" 2>"$T/append.err" &
app=$!
for _ in $(seq 1 600); do
    [ "$(grep -c '"status":"sent"' "$T/append.out" 2>/dev/null || true)" -ge 10000 ] && break
    kill -0 $app 2>/dev/null || break
    sleep 0.1
done
kill -9 "$(cat "$VAR/kafka/pid")"
set +e
wait $app
rc=$?
set -e
assert_eq "$rc" 2 "append exit status with the broker gone"
sent=$(grep -c '"status":"sent"' "$T/append.out" || true)
spooled=$(grep -c '"status":"spooled"' "$T/append.out" || true)
echo "sent before the crash: $sent; reported spooled: $spooled"
[ "$sent" -ge 10000 ] && [ "$sent" -lt $N ] || fail "the crash should land mid-stream (sent $sent)"
assert_contains "$(cat "$T/append.err")" "stay in" "error says the events stay in the spool"
assert_eq "$(wc -l <"$T/append.err")" 1 "one-line error"

step "the spool holds the unconfirmed events (the chain state follows from them)"
spool="$JUKILOG_HOME/spool/cs_352039.spool"
[ -s "$spool" ] || fail "spool $spool is empty"
# what is not yet appended (events not sent, not spooled) is appended by a rerun of the rest
sent_or_spooled=$((sent + spooled))

step "an inquiry with the broker down fails cleanly, and nothing is shown"
assert_status 2 jk inquire --operator sato --purpose b5.child_rearing_allowance --resident-code 24727059608 --timeout 5
assert_eq "$OUT" "" "nothing shown"
assert_eq "$(wc -l <<<"$ERR")" 1 "one-line error"
assert_contains "$ERR" "jukilog inquire: " "the error names the command"

step "broker back; flush sends the spool"
restart_broker
assert_status 0 jk journal flush --as cs:352039
assert_contains "$OUT" '"source":"cs:352039"' "flush output"
[ ! -s "$spool" ] || fail "spool not empty after flush"

step "the rest of the input is appended by a second run"
tail -n +$((sent_or_spooled + 1)) "$T/events.jsonl" >"$T/rest.jsonl"
assert_status 0 jk journal append --as cs:352039 --topic identity "$T/rest.jsonl"
assert_eq "$(grep -c '"status":"sent"' <<<"$OUT" || true)" "$((N - sent_or_spooled))" "rest sent"

step "every event exactly once, in order"
assert_status 0 jk verify --topic identity
assert_contains "$OUT" "{\"source\":\"cs:352039\",\"linked\":$N," "chain complete"
assert_contains "$(tail -n 1 <<<"$OUT")" "verified $N events from 1 sources: 0 invalid, 0 bad signatures, 0 forks, 0 gaps" "summary"
jk journal read --topic identity --until-caught-up >"$T/read.jsonl"
assert_eq "$(wc -l <"$T/read.jsonl")" $N "events read (duplicates dropped)"
sed -E 's/.*"partition":([0-9]+).*"seq":([0-9]+).*/\1 \2/' "$T/read.jsonl" >"$T/ps"
assert_eq "$(cut -d' ' -f2 "$T/ps" | sort -un | wc -l)" $N "distinct seqs"
assert_eq "$(awk '{if ($1 in last && $2 <= last[$1]) bad++; last[$1] = $2} END {print bad + 0}' "$T/ps")" 0 "order within partitions"
echo "PASS"
