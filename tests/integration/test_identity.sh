# test_identity.sh: the identity file through the whole path, cs send -> Kafka -> projector ->
# PostgreSQL, with a crafted scenario: every change reason, every rejection code (on the CS's
# side and on the prefecture's), a move between municipalities in both orders, a forged event;
# exact rows, exact notices to each CS; replay equal to the tables now and at earlier times;
# a rebuild equal to the live tables; the relay forwarding every accepted change once.
source "$(dirname "$0")/lib.sh"

A=352039 B=352012 C=352152 # 山口市, 下関市, 周南市
jk admin init >/dev/null
for m in $A $B $C; do jk cs enroll --municipality $m >/dev/null; done

person() { # person CODE10 MYNUM11 NAME KANA BIRTH SEX ADDRESS MUNICIPALITY
    jq -nc --arg rc "$(rcode "$1")" --arg mn "$(mynum "$2")" --arg n "$3" --arg k "$4" --arg b "$5" \
        --arg s "$6" --arg a "$7" --arg m "$8" '{resident_code: $rc, my_number: $mn, name: $n,
        name_kana: $k, birth_date: $b, sex: $s, address: $a, municipality_code: $m}'
}
P1=$(person 1000000001 10000000001 "山口　一郎" "ヤマグチ　イチロウ" 2026-04-01 1 "山口県山口市中央一丁目1番1号" $A)
P2=$(person 1000000002 10000000002 "佐藤　花子" "サトウ　ハナコ" 1980-05-05 2 "山口県山口市小郡二丁目2番2号" $A)
P3=$(person 1000000003 10000000003 "鈴木　次郎" "スズキ　ジロウ" 1970-01-01 1 "山口県山口市湯田温泉三丁目3番3号" $A)
P4=$(person 1000000004 10000000004 "高橋　三郎" "タカハシ　サブロウ" 1990-02-02 1 "山口県山口市大内四丁目4番4号" $A)
P5=$(person 1000000005 10000000005 "スミス　ジョン" "スミス　ジョン" 1985-03-03 1 "山口県山口市中央五丁目5番5号" $A)
P6=$(person 1000000006 10000000006 "田中　葵" "タナカ　アオイ" 2026-04-02 2 "山口県山口市中央六丁目6番6号" $A)
P7=$(person 1000000007 10000000007 "伊藤　誠" "イトウ　マコト" 1960-06-06 1 "山口県山口市中央七丁目7番7号" $A)
P4N_CODE=$(rcode 1000000099)

step "CS-side checks: invalid lines are reported and not sent"
{
    chg "$(jq -c '.resident_code = "10000000010"' <<<"$P7")" birth 2026-04-01
    chg "$(jq -c --arg m $B '.municipality_code = $m | .address = "山口県下関市竹崎町1番1号"' <<<"$P7")" move_in 2026-04-01
    chg "$P7" move_in 2026-04-01 | jq -c '.notified_at = "2026-03-31T03:00:00Z"'
} >"$T/invalid.jsonl"
assert_status 1 jk cs send --municipality $A "$T/invalid.jsonl"
assert_eq "$(jq -c '[.line, .status, .error]' <<<"$OUT" | tr '\n' ' ')" \
    '[1,"invalid","invalid_format"] [2,"invalid","wrong_municipality"] [3,"invalid","future_date"] ' "CS-side results"
assert_contains "$OUT" 'resident_code \"10000000010\": check digit' "detail names field and value"

step "municipality $A: every reason, and the prefecture's rejections"
P1R=$(jq -c '.address = "山口県山口市小郡一丁目8番8号"' <<<"$P1")
P1N=$(jq -c '.name = "山口　一"| .name_kana = "ヤマグチ　ハジメ"' <<<"$P1R")
P2C=$(jq -c '.birth_date = "1980-05-06"' <<<"$P2")
P3M=$(jq -c --arg mn "$(mynum 10000000033)" '.my_number = $mn' <<<"$P3")
{
    chg "$P1" birth 2026-04-01                              # 1 applied
    chg "$P2" move_in 2026-04-01                            # 2 applied
    chg "$P3" ex_officio_entry 2026-04-01                   # 3 applied
    chg "$P4" address_set 2026-04-01                        # 4 applied
    chg "$P5" foreign_resident_entry 2026-04-01             # 5 applied
    chg "$P6" birth 2026-04-02                              # 6 applied
    chg "$P1R" relocation 2026-04-10                        # 7 applied
    chg "$P1N" name_change 2026-04-11                       # 8 applied
    chg "$P2C" ex_officio_correction 2026-04-12             # 9 applied
    chg "$P3M" my_number_change 2026-04-13                  # 10 applied
    chg "$P4" resident_code_change 2026-04-14 | jq -c --arg n "$P4N_CODE" '.new_resident_code = $n' # 11
    rm_chg "$P5" death 2026-04-15 $A                        # 12 applied
    rm_chg "$P6" disappearance 2026-04-16 $A                # 13 applied
    chg "$P2C" move_in 2026-04-17                           # 14 already_resident
    chg "$P1N" birth 2026-04-18                             # 15 code_exists
    chg "$P7" relocation 2026-04-19                         # 16 unknown_resident
    chg "$(jq -c '.name = "鈴木　二郎"' <<<"$P3M")" relocation 2026-04-20 # 17 field_not_changeable
    rm_chg "$P3M" nationality_lost 2026-04-21 $A            # 18 applied
    rm_chg "$(jq -c --arg c "$P4N_CODE" '.resident_code = $c' <<<"$P4")" ex_officio_removal 2026-04-22 $A # 19
} >"$T/a1.jsonl"
assert_status 0 jk cs send --municipality $A "$T/a1.jsonl"
assert_eq "$(grep -c '"status":"sent"' <<<"$OUT")" 19 "all sent"

step "events the CS checks would have caught, appended straight to the log as cs:$A"
{
    # wrong_municipality: a record of 下関市 signed by 山口市's CS
    chg "$(jq -c --arg m $B '.municipality_code = $m | .address = "山口県下関市竹崎町1番1号"' <<<"$P7")" move_in 2026-04-23
    # future_date: effective after the notification
    chg "$P7" move_in 2026-04-24 | jq -c '.notified_at = "2026-04-23T03:00:00Z"'
    # invalid_format: a my number with a wrong check digit
    chg "$(jq -c '.my_number = "100000000070"' <<<"$P7")" move_in 2026-04-25
} | jq -c '{type: "identity.changed", subject: .resident_code, data: .}' >"$T/raw.jsonl"
jk journal append --as cs:$A --topic identity "$T/raw.jsonl" >/dev/null
# bad_signature: signed with 下関市's key in the name of 山口市
mkdir -p "$T/forger/keys" "$T/forger/state"
cp "$JUKILOG_HOME/keys/cs_$B.pem" "$T/forger/keys/cs_$A.pem"
chg "$P7" move_in 2026-04-26 | jq -c '{type: "identity.changed", subject: .resident_code, data: .}' |
    JUKILOG_HOME="$T/forger" jk journal append --as cs:$A --topic identity - >/dev/null

# Two more forgeries: one that takes the CS's next seq and chains to its real head (a rebuild that
# verifies only chain heads must notice and read the batch again), and one far ahead of the chain
# (held back for a predecessor that never comes, unless verified first).
read -r linked head < <(jk verify --topic identity | jq -r --arg s cs:$A 'select(.source == $s) | "\(.linked) \(.head)"')
for fake in "$linked $head" "999 $JK_ZERO_HASH"; do
    read -r seq prev <<<"$fake"
    jq -nc --arg s "cs:$A" --argjson q "$seq" --arg p "$prev" '{source: $s, seq: $q, prev: $p}' >"$T/forger/state/cs_$A.state"
    chg "$P7" move_in 2026-04-27 | jq -c '{type: "identity.changed", subject: .resident_code, data: .}' |
        JUKILOG_HOME="$T/forger" jk journal append --as cs:$A --topic identity - >/dev/null
done

step "a move $A -> $B arriving as move_in first (move_out superseded), $A -> $C as move_out first"
P1B=$(jq -c --arg m $B '.municipality_code = $m | .address = "山口県下関市竹崎町2番2号"' <<<"$P1N")
P2X=$(jq -c --arg m $C '.municipality_code = $m | .address = "山口県周南市岐山通1番1号"' <<<"$P2C")
chg "$P1B" move_in 2026-05-01 | jk cs send --municipality $B - >/dev/null
{ rm_chg "$P1N" move_out 2026-05-01 $A; rm_chg "$P2C" move_out 2026-05-02 $A; } | jk cs send --municipality $A - >/dev/null
{ chg "$P2X" move_in 2026-05-02; rm_chg "$P1B" death 2026-05-03 $C; } | jk cs send --municipality $C - >/dev/null

step "projector"
assert_status 0 jk projector --until-caught-up
assert_eq "$(jq -c '[.events, .applied, .superseded, .rejected, .duplicates]' <<<"$OUT")" "[30,18,1,11,0]" "summary"
S="${JUKILOG_NAMESPACE}_35"
assert_eq "$(psql_q "SELECT resident_code, municipality_code, status, reason, version, previous_municipality FROM $S.identity ORDER BY 1" | tr '\n' ' ')" \
    "$(rcode 1000000001)|$B|resident|move_in|4|$A $(rcode 1000000002)|$C|resident|move_in|4| $(rcode 1000000003)|$A|removed|nationality_lost|3| $(rcode 1000000005)|$A|removed|death|2| $(rcode 1000000006)|$A|removed|disappearance|2| $P4N_CODE|$A|removed|ex_officio_removal|3| " \
    "identity rows"
assert_eq "$(psql_q "SELECT code, count(*) FROM $S.rejections GROUP BY code ORDER BY code" | tr '\n' ' ')" \
    "already_resident|1 bad_signature|3 code_exists|1 field_not_changeable|1 future_date|1 invalid_format|1 not_resident_here|1 unknown_resident|1 wrong_municipality|1 " \
    "rejections by code"
assert_eq "$(psql_q "SELECT count(*) FROM $S.history")" 18 "history versions"
assert_eq "$(psql_q "SELECT string_agg(version::text || ':' || version_code, ',' ORDER BY version) FROM $S.history WHERE resident_code = '$P4N_CODE'")" \
    "1:$(rcode 1000000004),2:$P4N_CODE,3:$P4N_CODE" "history follows the new code"
assert_eq "$(psql_q "SELECT old_code || '>' || new_code FROM $S.aliases")" "$(rcode 1000000004)>$P4N_CODE" "alias"
assert_eq "$(psql_q "SELECT count(*) FROM $S.history_v WHERE valid_to IS NULL")" 6 "one open version per person"
assert_eq "$(psql_q "SELECT outcome || ' ' || reason FROM $S.events WHERE outcome = 'superseded'")" "superseded move_out" "superseded"

step "notices back to each CS"
assert_status 0 jk cs outcomes --municipality $A
assert_eq "$(jq -r '[.outcome, (.code // "-")] | join(" ")' <<<"$OUT" | sort | tr '\n' ',')" \
    "rejected already_resident,rejected bad_signature,rejected bad_signature,rejected bad_signature,rejected code_exists,rejected field_not_changeable,rejected future_date,rejected invalid_format,rejected unknown_resident,rejected wrong_municipality,superseded -," \
    "notices to $A"
assert_status 0 jk cs outcomes --municipality $C
assert_eq "$(jq -r '.code' <<<"$OUT")" "not_resident_here" "notice to $C"
assert_status 0 jk cs outcomes --municipality $B
assert_eq "$OUT" "" "no notice to $B"

step "replay equals the tables, now and at earlier broker times"
jk identity export >"$T/export.jsonl"
assert_eq "$(wc -l <"$T/export.jsonl")" 6 "exported persons"
# --verify reports the forged event (exit 1) and finds every chain whole.
assert_status 1 jk replay --verify --out "$T/replay.jsonl"
assert_eq "$(tail -n 1 <<<"$ERR")" "replay: 3 events with bad signatures" "verify report"
assert_contains "$ERR" "replay: 30 events, 6 persons, 18 applied, 1 superseded, 11 rejected" "replay summary"
# without --verify only chain heads are verified, with the same result
jk replay --out "$T/replay-heads.jsonl" 2>"$T/heads.err"
assert_contains "$(cat "$T/heads.err")" "replay: 30 events, 6 persons, 18 applied, 1 superseded, 11 rejected" "heads-only replay"
cmp "$T/replay.jsonl" "$T/replay-heads.jsonl" || fail "heads-only replay differs"
cmp "$T/export.jsonl" "$T/replay.jsonl" || fail "replay differs from the identity table"
psql_q "SELECT DISTINCT to_char(valid_from AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM $S.history ORDER BY 1" >"$T/times"
[ "$(wc -l <"$T/times")" -ge 2 ] || fail "accepted changes at fewer than 2 broker times"
while read -r t; do
    jk replay --as-of "$t" >"$T/r.jsonl" 2>/dev/null
    jk identity export --as-of "$t" >"$T/e.jsonl"
    cmp "$T/r.jsonl" "$T/e.jsonl" || fail "replay and history differ as of $t"
done <"$T/times"
# just before and at P1's move to 下関市
P1_CODE=$(rcode 1000000001)
fmt="'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'"
t_move=$(psql_q "SELECT to_char(valid_from AT TIME ZONE 'UTC', $fmt) FROM $S.history WHERE resident_code = '$P1_CODE' AND version = 4")
t_before=$(psql_q "SELECT to_char((valid_from - interval '1 millisecond') AT TIME ZONE 'UTC', $fmt) FROM $S.history WHERE resident_code = '$P1_CODE' AND version = 4")
assert_eq "$(jk replay --as-of "$t_before" 2>/dev/null | jq -r --arg c "$P1_CODE" 'select(.resident_code == $c) | [.municipality_code, .reason, .version] | join(" ")')" \
    "$A name_change 3" "P1 just before the move"
assert_eq "$(jk replay --as-of "$t_move" 2>/dev/null | jq -r --arg c "$P1_CODE" 'select(.resident_code == $c) | [.municipality_code, .reason, .version] | join(" ")')" \
    "$B move_in 4" "P1 at the move"
jk replay --as-of 2000-01-01T00:00:00Z >"$T/r0.jsonl" 2>/dev/null
assert_eq "$(wc -l <"$T/r0.jsonl")" 0 "nothing before the first event"

step "rebuild equals live"
dump_tables >"$T/live.dump"
live_indexes=$(schema_indexes)
assert_status 0 jk projector --rebuild --until-caught-up
dump_tables >"$T/rebuilt.dump"
cmp "$T/live.dump" "$T/rebuilt.dump" || fail "rebuilt tables differ from the live ones"
# A rebuild drops the indexes it does not read (identity_defer.sql) and builds them at the end.
assert_eq "$(schema_indexes)" "$live_indexes" "indexes after the rebuild"
assert_eq "$(wc -l <"$T/live.dump")" 55 "rows dumped (6 + 18 + 30 + 1)"
# Batches of one event end between the resident_code_change and the removal that follows it.
assert_status 0 jk projector --rebuild --until-caught-up --batch 1
dump_tables >"$T/rebuilt1.dump"
cmp "$T/live.dump" "$T/rebuilt1.dump" || fail "tables rebuilt in batches of one differ: $(diff "$T/live.dump" "$T/rebuilt1.dump")"
assert_eq "$(psql_q "SELECT a.event_id = e.event_id FROM $S.aliases a JOIN $S.events e ON e.reason = 'resident_code_change'")" "t" "the alias names the renaming event"

step "relay: every accepted change once"
assert_status 0 jk relay --until-caught-up
assert_contains "$OUT" '"forwarded":18' "forwarded"
assert_status 0 jk relay --until-caught-up
assert_contains "$OUT" '"forwarded":0' "nothing twice"
jk journal read --topic national --until-caught-up >"$T/national.jsonl"
assert_eq "$(grep -c '"type":"national.notified"' "$T/national.jsonl")" 18 "national notices"
assert_eq "$(jq -r '.event.data.change_id' "$T/national.jsonl" | sort -u | wc -l)" 18 "distinct changes"
echo "PASS"
