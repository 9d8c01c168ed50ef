# test_consistency.sh: the consistency check between a municipality's CS and the prefecture's
# identity file, through the log: cs send -> projector builds the file; consistency submit ->
# the consistency consumer -> report. An identical snapshot gives an empty report and sends
# digests only (no consistency.records on the log); crafted divergences (a record missing on each
# side, each field different, a change lost from the CS's spool: a gap in its chain) give exactly
# those lines; a bad snapshot is refused line by line and nothing is submitted; a submission
# that is not well formed is answered with its refusal.
source "$(dirname "$0")/lib.sh"

A=352039 B=352012 # 山口市, 下関市
jk admin init >/dev/null
for m in $A $B; do jk cs enroll --municipality $m >/dev/null; done

person() { # person CODE10 MYNUM11 NAME KANA BIRTH SEX ADDRESS MUNICIPALITY
    jq -nc --arg rc "$(rcode "$1")" --arg mn "$(mynum "$2")" --arg n "$3" --arg k "$4" --arg b "$5" \
        --arg s "$6" --arg a "$7" --arg m "$8" '{resident_code: $rc, my_number: $mn, name: $n,
        name_kana: $k, birth_date: $b, sex: $s, address: $a, municipality_code: $m}'
}
P=()
for i in 1 2 3 4 5 6 7 8 9 10 11; do
    P[$i]=$(person "20000000$(printf %02d $i)" "200000000$(printf %02d $i)" "山田　${i}郎" "ヤマダ　イチロウ" \
        1980-01-$(printf %02d $i) 1 "山口県山口市中央${i}丁目1番1号" $A)
done
QB=$(person 2000000099 20000000099 "下関　太郎" "シモノセキ　タロウ" 1975-07-07 2 "山口県下関市竹崎町1番1号" $B)
code() { jq -r .resident_code <<<"$1"; }

step "the prefecture's file: ten residents of $A, one of $B"
for i in 1 2 3 4 5 6 7 8 9 10; do chg "${P[$i]}" move_in 2026-04-01; done >"$T/a.jsonl"
assert_status 0 jk cs send --municipality $A "$T/a.jsonl"
chg "$QB" move_in 2026-04-01 | jk cs send --municipality $B - >/dev/null
assert_status 0 jk projector --until-caught-up

"$JUKILOG" consistency >"$T/consumer.out" 2>"$T/consumer.err" &
CPID=$!
# The consumer goes with the test.
at_exit 'kill "$CPID" 2>/dev/null; wait "$CPID" 2>/dev/null'

consistency_events() { # the types on the consistency topic, in order
    jk journal read --topic consistency --until-caught-up | jq -r '.event.type' | tr '\n' ' '
}
report_lines() { # the report's findings (the lines after the two heading lines)
    jk consistency report --municipality $A | tail -n +3
}

step "a bad snapshot is refused line by line, and nothing is submitted"
{
    chg "${P[1]}" move_in 2026-04-01
    chg "$(jq -c '.resident_code = "20000000010"' <<<"${P[2]}")" move_in 2026-04-01
    rm_chg "${P[3]}" move_out 2026-04-02 $A
    chg "${P[1]}" relocation 2026-04-03
    echo '{"resident_code":'
} >"$T/bad.jsonl"
assert_status 1 jk consistency submit --municipality $A "$T/bad.jsonl"
assert_eq "$(jq -c '[.line, .status, .error]' <<<"$OUT" | tr '\n' ' ')" \
    '[2,"invalid","invalid_format"] [3,"invalid","invalid_format"] [4,"invalid","invalid_format"] [5,"invalid","invalid_format"] ' \
    "refused lines"
assert_contains "$OUT" "reason move_out removes the record" "a removal is not a resident"
assert_contains "$OUT" "resident_code $(code "${P[1]}") is on line 1 already" "duplicates named"
assert_contains "$ERR" "4 invalid lines; nothing submitted" "summary"
assert_eq "$(consistency_events)" "" "nothing on the consistency topic"

step "an identical snapshot: digests only, an empty report"
assert_status 0 jk consistency submit --municipality $A --timeout 20 "$T/a.jsonl"
assert_eq "$(jq -c '[.records, .buckets, .buckets_differing, .records_sent, .events_sent, .only_in_municipality, .only_in_prefecture, .differences, .gaps]' <<<"$OUT")" \
    "[10,16,0,0,1,0,0,0,0]" "identical: counts"
assert_eq "$(consistency_events)" \
    "consistency.submitted consistency.requested consistency.reported " "no consistency.records sent"
assert_eq "$(report_lines)" "no differences" "empty report"
assert_eq "$(jk consistency report --municipality $A | sed -n 2p | sed 's/.*Z: //')" \
    "10 records in the municipality, 10 in the prefecture; 0 of 16 buckets differed" "heading"

step "a change lost from the CS's spool: a gap in its chain"
# The broker is unreachable: both changes stay in the spool (exit 2).
{
    chg "$(jq -c '.address = "山口県山口市小郡8丁目8番8号"' <<<"${P[8]}")" relocation 2026-05-08
    chg "$(jq -c '.address = "山口県山口市小郡7丁目7番7号"' <<<"${P[7]}")" relocation 2026-05-07
} >"$T/spooled.jsonl"
assert_status 2 env JUKILOG_BROKERS=127.0.0.1:1 "$JUKILOG" cs send -X message.timeout.ms=1000 \
    --municipality $A "$T/spooled.jsonl"
SPOOL="$JUKILOG_HOME/spool/cs_$A.spool"
assert_eq "$(wc -l <"$SPOOL")" 2 "two events spooled"
assert_eq "$(head -1 "$SPOOL" | cut -f3 | jq -r .seq)" 11 "the first spooled is seq 11"
sed -i 1d "$SPOOL" # the first one is lost
: >"$T/empty.jsonl"
assert_status 0 jk cs send --municipality $A "$T/empty.jsonl" # sends what is left in the spool
assert_status 0 jk projector --until-caught-up
assert_eq "$(jq -c '[.events, .applied]' <<<"$OUT")" "[1,1]" "only seq 12 arrived"

step "a snapshot that differs: one record missing on each side, each field different, the gap"
P7R=$(jq -c '.address = "山口県山口市小郡7丁目7番7号"' <<<"${P[7]}")
P8R=$(jq -c '.address = "山口県山口市小郡8丁目8番8号"' <<<"${P[8]}")
{
    # P1 is missing (only in the prefecture); P11 was never sent (only in the municipality)
    chg "$(jq -c --arg mn "$(mynum 20000000092)" '.my_number = $mn' <<<"${P[2]}")" move_in 2026-04-01
    chg "$(jq -c '.name = "山田　三朗"' <<<"${P[3]}")" move_in 2026-04-01
    chg "$(jq -c '.name_kana = "ヤマダ　サブロウ"' <<<"${P[4]}")" move_in 2026-04-01
    chg "$(jq -c '.birth_date = "1981-01-05"' <<<"${P[5]}")" move_in 2026-04-01
    chg "$(jq -c '.sex = "2"' <<<"${P[6]}")" move_in 2026-04-01
    chg "$P7R" relocation 2026-05-07
    chg "$P8R" relocation 2026-05-08 # the lost change: address, reason, effective date differ
    chg "${P[9]}" move_in 2026-04-01
    chg "${P[10]}" move_in 2026-04-01
    chg "${P[11]}" birth 2026-04-02
} >"$T/b.jsonl"
assert_status 0 jk consistency submit --municipality $A --timeout 20 "$T/b.jsonl"
SUMMARY=$OUT

# The buckets that differ (16 buckets: the 8th hex digit of SHA-256 of the code), and the
# snapshot's records in them: what must have been sent.
bucket() { printf %s "$1" | sha256sum | cut -c8; }
DIFFER=$(for i in 1 2 3 4 5 6 8 11; do bucket "$(code "${P[$i]}")"; done | sort -u)
SENT=0
for i in 2 3 4 5 6 7 8 9 10 11; do
    grep -qx "$(bucket "$(code "${P[$i]}")")" <<<"$DIFFER" && SENT=$((SENT + 1))
done
assert_eq "$(jq -c '[.records, .buckets, .buckets_differing, .records_sent, .only_in_municipality, .only_in_prefecture, .differences, .gaps]' <<<"$SUMMARY")" \
    "[10,16,$(wc -l <<<"$DIFFER"),$SENT,1,1,8,1]" "divergent: counts"

C2=$(code "${P[2]}") C3=$(code "${P[3]}") C4=$(code "${P[4]}") C5=$(code "${P[5]}")
C6=$(code "${P[6]}") C8=$(code "${P[8]}")
FIX="if the registry is right, send"
LAST="the last change differs: check \`jukilog cs outcomes\` for a rejected change and send it again, corrected"
EXPECTED="$(code "${P[11]}") only in the municipality (山田　11郎): the prefecture has no such resident here; send the person's last change record again (jukilog cs send)
$(code "${P[1]}") only in the prefecture (山田　1郎): the registry has no such resident; if the person left or died, send the removal (move_out, death, ...)
$C2 my_number differs: municipality \"$(mynum 20000000092)\", prefecture \"$(mynum 20000000002)\"; $FIX a my_number_change
$C3 name differs: municipality \"山田　三朗\", prefecture \"山田　3郎\"; $FIX a name_change (or an ex_officio_correction)
$C4 name_kana differs: municipality \"ヤマダ　サブロウ\", prefecture \"ヤマダ　イチロウ\"; $FIX a name_change (or an ex_officio_correction)
$C5 birth_date differs: municipality \"1981-01-05\", prefecture \"1980-01-05\"; $FIX an ex_officio_correction
$C6 sex differs: municipality \"2\", prefecture \"1\"; $FIX an ex_officio_correction
$C8 address differs: municipality \"山口県山口市小郡8丁目8番8号\", prefecture \"山口県山口市中央8丁目1番1号\"; $FIX a relocation (or an ex_officio_correction)
$C8 reason differs: municipality \"relocation\", prefecture \"move_in\"; $LAST
$C8 effective_date differs: municipality \"2026-05-08\", prefecture \"2026-04-01\"; $LAST
cs:$A seq 11..11 (1 event) never reached the prefecture; find the changes in the CS's spool or records and send them again"
assert_eq "$(report_lines)" "$EXPECTED" "report lines"
assert_eq "$(jk consistency report --municipality $A | sed -n 2p | sed 's/.*Z: //')" \
    "10 records in the municipality, 10 in the prefecture; $(wc -l <<<"$DIFFER") of 16 buckets differed" "heading"

assert_status 0 jk consistency report --municipality $A --json
assert_eq "$(jq -c '[.submission == ($s.submission), .only_in_municipality, .only_in_prefecture, .gaps]' --argjson s "$SUMMARY" <<<"$OUT")" \
    "[true,[{\"name\":\"山田　11郎\",\"resident_code\":\"$(code "${P[11]}")\"}],[{\"name\":\"山田　1郎\",\"resident_code\":\"$(code "${P[1]}")\"}],[{\"from\":11,\"source\":\"cs:$A\",\"to\":11}]]" \
    "--json: the event's data"
assert_eq "$(jq -c '.differences[] | [.field, .municipality, .prefecture]' <<<"$OUT" | sed -n 3p)" \
    '["name_kana","ヤマダ　サブロウ","ヤマダ　イチロウ"]' "--json: both values"
assert_eq "$(consistency_events)" \
    "consistency.submitted consistency.requested consistency.reported consistency.submitted consistency.requested consistency.records consistency.reported " \
    "the exchange on the log"

step "the file is never repaired; $B has no report"
assert_eq "$(psql_q "SELECT count(*) FROM ${JUKILOG_NAMESPACE}_35.identity WHERE municipality_code = '$A'")" 10 "identity rows"
assert_status 1 jk consistency report --municipality $B
assert_contains "$ERR" "municipality $B has no consistency report yet" "no report"

step "a submission that is not well formed is refused, the reason sent back to the CS"
# Signed with the CS's own key on its consistency chain, as submit signs; no digests.
cp "$JUKILOG_HOME/keys/cs_$A.pem" "$JUKILOG_HOME/keys/cscheck_$A.pem"
printf '{"type":"consistency.submitted","subject":"%s","data":{"municipality":"%s","buckets":16,"records":1,"identity_seq":0}}\n' \
    $A $A >"$T/bad_submission.jsonl"
assert_status 0 jk journal append --as cscheck:$A --topic consistency "$T/bad_submission.jsonl"
BAD=$(jq -r .id <<<"$OUT")
for _ in $(seq 1 100); do
    [[ "$(consistency_events)" == *consistency.refused* ]] && break
    sleep 0.2
done
assert_eq "$(jk journal read --topic consistency --until-caught-up |
    jq -c --arg bad "$BAD" 'select(.event.type == "consistency.refused") |
        [.event.source, .event.subject, .event.data.submission == $bad, .event.data.event == $bad, .event.data.reason]')" \
    '["consistency:35","'$A'",true,true,"data must hold the sender'"'"'s municipality, digests, buckets, records and identity_seq"]' \
    "the refusal, its reason"
assert_eq "$(psql_q "SELECT count(*) FROM ${JUKILOG_NAMESPACE}_35.consistency_submissions")" 2 "nothing stored"

step "the projector behind: the consumer waits for it, naming the partition not read to its end"
QB2=$(jq -c '.address = "山口県下関市竹崎町2番2号"' <<<"$QB")
chg "$QB2" relocation 2026-06-01 >"$T/qb.jsonl"
assert_status 0 jk cs send --municipality $B "$T/qb.jsonl"
read -r PART OFF < <(jk journal read --topic identity --until-caught-up |
    jq -r --arg c "$(code "$QB")" 'select(.event.subject == $c) | "\(.partition) \(.offset)"' | tail -1)
SEEN=$(wc -l <"$T/consumer.err")
"$JUKILOG" consistency submit --municipality $B --timeout 30 "$T/qb.jsonl" >"$T/submit.out" 2>"$T/submit.err" &
SPID=$!
for _ in $(seq 1 100); do
    tail -n +$((SEEN + 1)) "$T/consumer.err" | grep -q "waiting for the projector" && break
    sleep 0.2
done
assert_contains "$(tail -n +$((SEEN + 1)) "$T/consumer.err")" \
    "(partition $PART read up to offset $OFF of $((OFF + 1)))" "the partition behind, named"
assert_status 0 jk projector --until-caught-up
wait "$SPID" || fail "submit exited $?: $(cat "$T/submit.err")"
assert_eq "$(jq -c '[.records, .buckets_differing, .only_in_municipality, .only_in_prefecture, .differences, .gaps]' <"$T/submit.out")" \
    "[1,0,0,0,0,0]" "answered once the projector passed it: identical"

step "the consumer stops cleanly and, restarted, answers nothing twice"
kill "$CPID"
wait "$CPID" || fail "the consumer exited $?: $(cat "$T/consumer.err")"
assert_eq "$(jq -c '[.submissions, .reports, .refused, .ignored]' <"$T/consumer.out")" "[3,3,1,0]" "consumer summary"
assert_status 0 jk consistency --until-caught-up
assert_eq "$(jq -c '[.submissions, .reports, .refused]' <<<"$OUT")" "[0,0,0]" "nothing redone"
assert_eq "$(psql_q "SELECT string_agg(state, ',' ORDER BY as_of) FROM ${JUKILOG_NAMESPACE}_35.consistency_submissions")" \
    "reported,reported,reported" "submissions"
echo "OK"
