# test_national.sh: the national server's projection (`jukilog national`) over two prefecture
# tenants of one namespace, 山口県 (35) and 広島県 (34): residents created in each, a person moving
# from 35 to 34, a name change, a resident_code_change; projector and relay of each, then the
# national projection: exact rows per prefecture, nothing changed by a second run or by notices
# the relay forwards again, a lookup by normalised 4 information, forged notices rejected, and a
# wrong anchor refusing a whole prefecture.
#
# Each tenant has a JUKILOG_HOME of its own: `admin init` keeps the admin key as keys/admin.pem
# of its home (not named by prefecture), and consumers pin that home's keys/admin.pub. The
# national server runs with 35's home and holds 34's admin public key as keys/anchors/34.pub.
source "$(dirname "$0")/lib.sh"

H35="$JUKILOG_HOME" H34="$T/h34"
mkdir -p "$H34"
j34() { JUKILOG_PREFECTURE=34 JUKILOG_HOME="$H34" "$JUKILOG" "$@"; }
N="${JUKILOG_NAMESPACE}_national"
national_cleanup() {
    [ -n "${JK_KEEP:-}" ] && return
    j34 admin drop --confirm "$JUKILOG_NAMESPACE" >/dev/null 2>&1
    psql "$JUKILOG_PG" -XAtq -c "DROP SCHEMA IF EXISTS $N CASCADE" >/dev/null 2>&1
}
at_exit national_cleanup

A=352039 B=352012 # 山口市, 下関市
H=341002 K=342025 # 広島市, 呉市 (check digits: (11 - (6,5,4,3,2 · 34100) mod 11) mod 10 = 2, 34202 -> 5)
jk admin init >/dev/null
j34 admin init >/dev/null
for m in $A $B; do jk cs enroll --municipality $m >/dev/null; done
for m in $H $K; do j34 cs enroll --municipality $m >/dev/null; done
mkdir -p "$H35/keys/anchors"
cp "$H34/keys/admin.pub" "$H35/keys/anchors/34.pub"

person() { # person CODE10 MYNUM11 NAME KANA BIRTH SEX ADDRESS MUNICIPALITY
    jq -nc --arg rc "$(rcode "$1")" --arg mn "$(mynum "$2")" --arg n "$3" --arg k "$4" --arg b "$5" \
        --arg s "$6" --arg a "$7" --arg m "$8" '{resident_code: $rc, my_number: $mn, name: $n,
        name_kana: $k, birth_date: $b, sex: $s, address: $a, municipality_code: $m}'
}
P1=$(person 2000000001 20000000001 "山口　一郎" "ヤマグチ　イチロウ" 2026-04-01 1 "山口県山口市中央一丁目1番1号" $A)
P2=$(person 2000000002 20000000002 "佐藤　花子" "サトウ　ハナコ" 1980-05-05 2 "山口県山口市小郡二丁目2番2号" $A)
P3=$(person 2000000003 20000000003 "鈴木　次郎" "スズキ　ジロウ" 1970-01-01 1 "山口県下関市竹崎町3番3号" $B)
P4=$(person 2000000004 20000000004 "高橋　三郎" "タカハシ　サブロウ" 1990-02-02 1 "山口県下関市竹崎町4番4号" $B)
Q1=$(person 2000000011 20000000011 "広田　桜" "ヒロタ　サクラ" 2026-04-03 2 "広島県広島市中区基町1番1号" $H)
Q2=$(person 2000000012 20000000012 "呉　健" "クレ　ケン" 1975-07-07 1 "広島県広島市中区大手町2番2号" $H)
P3N=$(jq -c '.name = "鈴木　二郎" | .name_kana = "スズキ　ジロウ"' <<<"$P3")
P4N_CODE=$(rcode 2000000099)
P2K=$(jq -c --arg m $K '.municipality_code = $m | .address = "広島県呉市中央4丁目1番1号"' <<<"$P2")
Q2R=$(jq -c '.address = "広島県広島市中区大手町3番3号"' <<<"$Q2")
C1=$(rcode 2000000001) C2=$(rcode 2000000002) C3=$(rcode 2000000003) C4=$(rcode 2000000004)
D1=$(rcode 2000000011) D2=$(rcode 2000000012)

step "35: residents, a name change, a resident_code_change, a move out to 34"
{
    chg "$P1" birth 2026-04-01
    chg "$P2" move_in 2026-04-01
} | jk cs send --municipality $A - >/dev/null
{
    chg "$P3" ex_officio_entry 2026-04-01
    chg "$P4" move_in 2026-04-01
    chg "$P3N" name_change 2026-04-05
    chg "$P4" resident_code_change 2026-04-06 | jq -c --arg n "$P4N_CODE" '.new_resident_code = $n'
} | jk cs send --municipality $B - >/dev/null
rm_chg "$P2" move_out 2026-04-10 $A | jk cs send --municipality $A - >/dev/null

step "34: residents, a relocation, the person from 35 moving in"
{
    chg "$Q1" birth 2026-04-03
    chg "$Q2" move_in 2026-04-01
    chg "$Q2R" relocation 2026-04-08
} | j34 cs send --municipality $H - >/dev/null
chg "$P2K" move_in 2026-04-10 | j34 cs send --municipality $K - >/dev/null

step "projector and relay of each prefecture"
assert_status 0 jk projector --until-caught-up
assert_eq "$(jq -c '[.applied, .rejected]' <<<"$OUT")" "[7,0]" "35 projector"
assert_status 0 j34 projector --until-caught-up
assert_eq "$(jq -c '[.applied, .rejected]' <<<"$OUT")" "[4,0]" "34 projector"
assert_status 0 jk relay --until-caught-up
assert_eq "$(jq .forwarded <<<"$OUT")" 7 "35 relay"
assert_status 0 j34 relay --until-caught-up
assert_eq "$(jq .forwarded <<<"$OUT")" 4 "34 relay"
jk journal read --topic national --until-caught-up >"$T/n35.jsonl"
assert_eq "$(jq -r 'select(.event.data.reason == "resident_code_change") | .event.data.previous_resident_code + ">" + .event.data.record.resident_code' "$T/n35.jsonl")" \
    "$C4>$P4N_CODE" "the rename's notice names the old code"

step "forged notices: signed by a CS of 35, and in relay:34's name with another key"
notice() { # notice CODE STATUS VERSION: a national.notified spec that would retire CODE
    jq -nc --arg c "$1" --arg s "$2" --argjson v "$3" --argjson rec "$4" '{type: "national.notified",
        subject: $c, data: {change_id: "0123456789abcdef0123456789abcdef", source: "cs:000000",
        reason: "death", effective_date: "2026-04-20", broker_time: "2026-04-20T00:00:00.000Z",
        version: $v, record: ($rec + {resident_code: $c, status: $s})}}'
}
notice "$C1" removed 9 "$P1" | jk journal append --as cs:$A --topic national - >/dev/null
mkdir -p "$T/forger/keys"
cp "$H34/keys/cs_$H.pem" "$T/forger/keys/relay_34.pem"
notice "$D1" removed 9 "$Q1" | JUKILOG_PREFECTURE=34 JUKILOG_HOME="$T/forger" jk journal append --as relay:34 --topic national - >/dev/null

step "usage and missing topics"
assert_status 2 jk national --prefectures 99
assert_contains "$ERR" '"99" is not a prefecture code' "bad --prefectures"
assert_status 2 jk national --prefectures 35,35
assert_status 2 jk national --until-caught-up --prefectures 36
assert_contains "$ERR" "$JUKILOG_NAMESPACE.36" "missing prefecture named"
assert_status 0 jk national --help
assert_contains "$OUT" "usage: jukilog national" "help"

step "national: every prefecture's notices"
assert_status 0 jk national --until-caught-up
assert_eq "$(jq -c '[.applied, .stale, .rejected]' <<<"$OUT")" "[11,0,2]" "national summary"
rows() { psql_q "SELECT resident_code, prefecture, status, reason, version, municipality_code, coalesce(new_resident_code, '-') FROM $N.persons ORDER BY 1, 2" | tr '\n' ' '; }
assert_eq "$(rows)" \
    "$C1|35|resident|birth|1|$A|- $C2|34|resident|move_in|1|$K|- $C2|35|removed|move_out|2|$A|- $C3|35|resident|name_change|2|$B|- $C4|35|removed|resident_code_change|2|$B|$P4N_CODE $D1|34|resident|birth|1|$H|- $D2|34|resident|relocation|2|$H|- $P4N_CODE|35|resident|resident_code_change|2|$B|- " \
    "persons rows"
assert_eq "$(psql_q "SELECT name || '|' || address FROM $N.persons WHERE resident_code = '$C3'")" "鈴木　二郎|山口県下関市竹崎町3番3号" "name change"
assert_eq "$(psql_q "SELECT address FROM $N.persons WHERE resident_code = '$D2'")" "広島県広島市中区大手町3番3号" "relocation"
# every row's change_id is an event the prefecture's projector applied, with that version
assert_eq "$(psql_q "SELECT count(*) FROM $N.persons p JOIN ${JUKILOG_NAMESPACE}_35.history h ON h.event_id = p.change_id AND h.version = p.version WHERE p.prefecture = '35'")" 5 "35 rows from 35's history"
assert_eq "$(psql_q "SELECT count(*) FROM $N.persons p JOIN ${JUKILOG_NAMESPACE}_34.history h ON h.event_id = p.change_id AND h.version = p.version WHERE p.prefecture = '34'")" 3 "34 rows from 34's history"
assert_eq "$(psql_q "SELECT topic, code, source FROM $N.rejections ORDER BY 1" | tr '\n' ' ')" \
    "$JUKILOG_NAMESPACE.34.national|bad_signature|relay:34 $JUKILOG_NAMESPACE.35.national|wrong_source|cs:$A " "rejections"
assert_contains "$(psql_q "SELECT detail FROM $N.rejections WHERE code = 'bad_signature'")" "signature does not verify" "bad signature detail"
psql "$JUKILOG_PG" -XAtq -c "COPY (SELECT * FROM $N.persons ORDER BY 1, 2) TO STDOUT" >"$T/persons.1"

step "again: nothing new, nothing changes"
assert_status 0 jk national --until-caught-up
assert_eq "$(jq -c '[.applied, .stale, .rejected]' <<<"$OUT")" "[0,0,0]" "second run"
psql "$JUKILOG_PG" -XAtq -c "COPY (SELECT * FROM $N.persons ORDER BY 1, 2) TO STDOUT" >"$T/persons.2"
cmp "$T/persons.1" "$T/persons.2" || fail "a second run changed persons"

step "35's relay forwards everything again (as after losing its position): all stale"
psql_q "DELETE FROM ${JUKILOG_NAMESPACE}_35.relay_position"
assert_status 0 jk relay --until-caught-up
assert_eq "$(jq .forwarded <<<"$OUT")" 7 "forwarded again"
assert_status 0 jk national --until-caught-up --prefectures 35
assert_eq "$(jq -c '[.applied, .stale, .rejected]' <<<"$OUT")" "[0,7,0]" "re-forwarded notices"
psql "$JUKILOG_PG" -XAtq -c "COPY (SELECT * FROM $N.persons ORDER BY 1, 2) TO STDOUT" >"$T/persons.3"
cmp "$T/persons.1" "$T/persons.3" || fail "re-forwarded notices changed persons"

step "lookups: by my_number, by normalised 4 information"
assert_eq "$(psql_q "SELECT resident_code || '|' || prefecture FROM $N.persons WHERE my_number = '$(mynum 20000000002)' AND status = 'resident'")" \
    "$C2|34" "my_number finds the person in 34"
assert_eq "$(psql_q "SELECT count(*) FROM $N.persons WHERE resident_code = '$C4' AND status = 'resident'")" 0 "old code is no resident"
four="SELECT resident_code || '|' || prefecture FROM $N.persons
    WHERE replace(normalize(name, NFKC), ' ', '') = replace(normalize('佐藤 花子', NFKC), ' ', '')
      AND birth_date = '1980-05-05' AND sex = '2'
      AND replace(normalize(address, NFKC), ' ', '') = replace(normalize('広島県呉市中央４丁目１番１号', NFKC), ' ', '')
      AND status = 'resident'"
assert_eq "$(psql_q "$four")" "$C2|34" "4 information, half-width space and full-width digits"
assert_contains "$(psql "$JUKILOG_PG" -XAtq -c "SET enable_seqscan = off" -c "EXPLAIN $four")" "persons_four" "the lookup uses the index"

step "a wrong anchor for 34 refuses all of 34's notices"
psql_q "SET client_min_messages = warning; DROP SCHEMA $N CASCADE"
mkdir -p "$T/wrong/keys/anchors"
cp "$H35/keys/admin.pub" "$T/wrong/keys/anchors/34.pub"
assert_status 0 env JUKILOG_HOME="$T/wrong" "$JUKILOG" national --until-caught-up --prefectures 34
assert_eq "$(jq -c '[.applied, .stale, .rejected]' <<<"$OUT")" "[0,0,5]" "wrong anchor"
assert_eq "$(psql_q "SELECT code, count(*) FROM $N.rejections GROUP BY 1")" "bad_signature|5" "all bad signatures"
assert_eq "$(psql_q "SELECT count(*) FROM $N.persons")" 0 "nothing applied"
echo "PASS"
