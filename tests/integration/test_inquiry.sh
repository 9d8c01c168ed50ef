# test_inquiry.sh: lawful use through the log. Inquiries by resident code, my number and the 4
# information; every refusal reason with its record on the log; a revoked operator's earlier
# request provided and the later one refused, also after the provider's rebuild; a forged
# request; an answer that another operator cannot open; a request the provider answers only
# when it comes back; disclosure listing exactly the provisions made; bulk provision of 10,000
# conditions with exact matched / unmatched counts.
source "$(dirname "$0")/lib.sh"

A=352039
S="${JUKILOG_NAMESPACE}_35"
jk admin init >/dev/null
jk cs enroll --municipality $A >/dev/null

person() { # person CODE10 MYNUM11 NAME KANA BIRTH SEX ADDRESS
    jq -nc --arg rc "$(rcode "$1")" --arg mn "$(mynum "$2")" --arg n "$3" --arg k "$4" --arg b "$5" \
        --arg s "$6" --arg a "$7" --arg m $A \
        '{resident_code: $rc, my_number: $mn, name: $n, name_kana: $k, birth_date: $b, sex: $s,
          address: $a, municipality_code: $m}'
}
P1=$(person 2000000001 20000000001 "山口　一郎" "ヤマグチ　イチロウ" 1970-04-01 1 "山口県山口市中央一丁目1番1号")
P2=$(person 2000000002 20000000002 "佐藤　花子" "サトウ　ハナコ" 1980-05-05 2 "山口県山口市小郡二丁目2番2号")
P3=$(person 2000000003 20000000003 "佐藤　花子" "サトウ　ハナコ" 1980-05-05 2 "山口県山口市中央三丁目3番3号")
P1C=$(jq -r .resident_code <<<"$P1")
P1M=$(jq -r .my_number <<<"$P1")
P2C=$(jq -r .resident_code <<<"$P2")
P3C=$(jq -r .resident_code <<<"$P3")
{
    chg "$P1" ex_officio_entry 2026-04-01
    chg "$P2" ex_officio_entry 2026-04-01
    chg "$P3" ex_officio_entry 2026-04-01
} >"$T/load.jsonl"
jk cs send --municipality $A "$T/load.jsonl" >/dev/null
jk projector --until-caught-up >/dev/null

step "operators"
jk operator add --id sato --department kenko_fukushi --role staff --purposes b5.child_rearing_allowance >/dev/null
jk operator add --id kubo --department kenko_fukushi --role staff --purposes b5.child_rearing_allowance >/dev/null
jk operator add --id mori --department kyoiku_iinkai --role bulk --purposes ord.scholarship >/dev/null
jk operator add --id aoki --department shimin --role staff --purposes disclosure.self >/dev/null

step "a request waits for the provider, and is answered when it comes"
assert_status 2 jk inquire --operator sato --purpose b5.child_rearing_allowance --resident-code "$P1C" --timeout 2
assert_eq "$OUT" "" "nothing shown without an answer"
assert_contains "$ERR" "is \`jukilog provider\` running? The request stays on the log" "timeout message"
waiting=$(sed -n 's/.*no answer to request \([0-9a-f]*\) within.*/\1/p' <<<"$ERR")
# Queued behind it, an inquiry for P3 and then P3's disclosure: the provider reads the three
# at once, and the disclosure lists the provision decided just before it.
assert_status 2 jk inquire --operator sato --purpose b5.child_rearing_allowance --resident-code "$P3C" --timeout 1
assert_status 2 jk disclose --operator aoki --resident-code "$P3C" --timeout 1
queued_disclosure=$(sed -n 's/.*no answer to request \([0-9a-f]*\) within.*/\1/p' <<<"$ERR")
"$JUKILOG" provider >"$T/provider.out" 2>"$T/provider.err" &
PROVIDER=$!
at_exit 'kill $PROVIDER 2>/dev/null'
assert_status 0 jk inquire --operator sato --answer-to "$waiting" --timeout 20 --json
assert_eq "$(jq -c '[.outcome, .count, [.records[].resident_code]]' <<<"$OUT")" "[\"provision\",1,[\"$P1C\"]]" "answered later"
assert_status 0 jk inquire --operator aoki --answer-to "$queued_disclosure" --timeout 20 --json
assert_eq "$(jq -c '[.outcome, [.provisions[] | [.department, .request_type]]]' <<<"$OUT")" '["provision",[["kenko_fukushi","inquiry"]]]' "the queued disclosure lists the inquiry read with it"

step "inquiries that are provided"
assert_status 0 jk inquire --operator sato --purpose b5.child_rearing_allowance --resident-code "$P1C" --json
assert_eq "$(jq -cS '.records[0] | del(.national)' <<<"$OUT")" \
    "$(jq -cS '. + {status: "resident", effective_date: "2026-04-01", reason: "ex_officio_entry", version: 1}' <<<"$P1")" "by resident code: the record"
assert_eq "$(jq -c .records[0].national <<<"$OUT")" "false" "from this prefecture's file"
assert_status 0 jk inquire --operator sato --purpose b5.child_rearing_allowance --my-number "$P1M" --json
assert_eq "$(jq -c '[.count, .records[0].resident_code]' <<<"$OUT")" "[1,\"$P1C\"]" "by my number"
# Half-width space and full-width digits match the stored ideographic space and kanji numerals.
assert_status 0 jk inquire --operator sato --purpose b5.child_rearing_allowance --name "佐藤 花子" --birth-date 1980-05-05 --json
assert_eq "$(jq -c '[.count, [.records[].resident_code]]' <<<"$OUT")" "[2,[\"$P2C\",\"$P3C\"]]" "by name and birth date: both"
assert_status 0 jk inquire --operator sato --purpose b5.child_rearing_allowance --name "佐藤花子" --address "山口県山口市中央三丁目3番3号" --limit 1 --json
assert_eq "$(jq -c '[.count, [.records[].resident_code]]' <<<"$OUT")" "[1,[\"$P3C\"]]" "by name and address, spaces normalised"
assert_status 0 jk inquire --operator sato --purpose b5.child_rearing_allowance --name "佐藤　花子" --sex 2 --limit 1 --json
assert_eq "$(jq -c '[.count, [.records[].resident_code]]' <<<"$OUT")" "[2,[\"$P2C\"]]" "capped at the limit, with the count"
assert_status 0 jk inquire --operator sato --purpose b5.child_rearing_allowance --resident-code "$P2C"
assert_contains "$OUT" "provided: 1 person(s) found, 1 shown" "human-readable"
assert_contains "$OUT" "$P2C  佐藤　花子  1980-05-05  2  山口県山口市小郡二丁目2番2号" "human-readable row"

step "terminal-side checks: nothing signed, nothing sent"
assert_status 2 jk inquire --operator sato --purpose b5.child_rearing_allowance --name "佐藤　花子"
assert_contains "$ERR" "needs at least two of name, birth_date, sex, address" "one of the 4 information"
assert_status 2 jk inquire --operator sato --purpose b5.child_rearing_allowance --my-number 123456789012
assert_contains "$ERR" "data.query.my_number \"123456789012\": check digit should be" "check digit"

step "refusals, each on the log with its reason"
assert_status 1 jk inquire --operator sato --purpose b5.hibakusha --resident-code "$P1C" --json
assert_eq "$(jq -c '[.outcome, .reason]' <<<"$OUT")" '["refusal","purpose_not_allowed"]' "purpose not granted"
assert_status 1 jk inquire --operator sato --purpose b5.child_rearing_allowance --my-number "$(mynum 29999999999)" --json
assert_eq "$(jq -r .reason <<<"$OUT")" "not_found" "nobody"
printf 'my_number\n%s\n' "$P1M" >"$T/one.csv"
printf 'secret\n' >"$T/pass"
assert_status 1 jk provide --bulk "$T/one.csv" --operator sato --purpose b5.child_rearing_allowance --out "$T/x.enc" --passphrase-file "$T/pass"
assert_contains "$OUT" "refused: role_not_allowed" "a staff operator cannot bulk"
assert_status 1 jk provide --bulk "$T/one.csv" --operator mori --purpose b5.child_rearing_allowance --out "$T/x.enc" --passphrase-file "$T/pass"
assert_contains "$OUT" "refused: purpose_not_allowed" "a purpose not granted to the bulk operator"
[ ! -e "$T/x.enc" ] || fail "a refused bulk request wrote a result"
# An operator nobody registered: keys of its own, but none on the admin topic.
mkdir -p "$JUKILOG_HOME/keys/operators/ghost"
cp "$JUKILOG_HOME"/keys/operators/sato/*.pem "$JUKILOG_HOME/keys/operators/ghost/"
assert_status 1 jk inquire --operator ghost --purpose b5.child_rearing_allowance --resident-code "$P1C" --json
assert_eq "$(jq -r .reason <<<"$OUT")" "unknown_operator" "unknown operator"
# A forged request: kubo's key, in sato's name, from another copy of the terminal.
FORGER="$T/forger"
mkdir -p "$FORGER/keys/operators/sato"
cp "$JUKILOG_HOME/keys/admin.pub" "$FORGER/keys/"
cp "$JUKILOG_HOME/keys/operators/kubo/signing.pem" "$FORGER/keys/operators/sato/signing.pem"
cp "$JUKILOG_HOME/keys/operators/sato/encryption.pem" "$FORGER/keys/operators/sato/"
assert_status 1 env JUKILOG_HOME="$FORGER" "$JUKILOG" inquire --operator sato --purpose b5.child_rearing_allowance --resident-code "$P1C" --json
assert_eq "$(jq -r .reason <<<"$OUT")" "bad_signature" "forged signature"

step "revocation: the earlier request provided, the later one refused"
assert_status 0 jk inquire --operator kubo --purpose b5.child_rearing_allowance --resident-code "$P2C" --json
early=$(jq -r .request_id <<<"$OUT")
jk operator revoke --id kubo --reason transferred >/dev/null
assert_status 1 jk inquire --operator kubo --purpose b5.child_rearing_allowance --resident-code "$P2C" --json
late=$(jq -r .request_id <<<"$OUT")
assert_eq "$(jq -r .reason <<<"$OUT")" "revoked" "after the revocation"

step "another operator cannot open an answer"
assert_status 2 jk inquire --operator aoki --answer-to "$early" --timeout 5
assert_contains "$ERR" "cannot open the answer: not sealed to this key, or altered" "aoki opens kubo's answer"
assert_status 0 jk inquire --operator kubo --answer-to "$early" --timeout 5 --json
assert_eq "$(jq -r '.records[0].resident_code' <<<"$OUT")" "$P2C" "kubo still opens it (keys stay)"

step "disclosure lists exactly the provisions of the record"
assert_status 0 jk disclose --operator aoki --resident-code "$P1C" --json
assert_eq "$(jq -c '[.records[0].resident_code, (.history | length), .history[0].reason]' <<<"$OUT")" "[\"$P1C\",1,\"ex_officio_entry\"]" "record and history"
# P1 was provided to sato four times: the late answer, by code, by my number; and refused
# three times (purpose, ghost, forged), which are not provisions.
assert_eq "$(jq -c '[.provisions[] | [.department, .purpose, .request_type]] | unique' <<<"$OUT")" '[["kenko_fukushi","b5.child_rearing_allowance","inquiry"]]' "who received it"
assert_eq "$(jq '.provisions | length' <<<"$OUT")" "3" "three provisions"
assert_eq "$(jq -c '.provisions[0].items' <<<"$OUT")" '["resident_code","my_number","name","name_kana","birth_date","sex","address","status","effective_date","municipality_code"]' "items provided"
assert_status 0 jk disclose --operator aoki --resident-code "$P1C" --json
assert_eq "$(jq -c '[.provisions[] | .department] | sort' <<<"$OUT")" '["kenko_fukushi","kenko_fukushi","kenko_fukushi","shimin"]' "the disclosure itself is a use"
assert_status 1 jk disclose --operator sato --resident-code "$P1C" --json
assert_eq "$(jq -r .reason <<<"$OUT")" "purpose_not_allowed" "staff not granted the disclosure purpose"

step "every request has exactly one record on the log, with its reason"
jk journal read --topic operations --until-caught-up >"$T/ops.jsonl"
requests=$(jq -s '[.[] | select(.event.type | startswith("request."))] | length' "$T/ops.jsonl")
records=$(jq -s '[.[] | select(.event.type | test("^(provision|refusal)\\.")) | .event.data.request_id] | unique | length' "$T/ops.jsonl")
assert_eq "$records" "$requests" "a record per request"
assert_eq "$(jq -r 'select(.event.type | startswith("refusal.")) | .event.data.reason' "$T/ops.jsonl" | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ')" \
    "bad_signature=1 not_found=1 purpose_not_allowed=3 revoked=1 role_not_allowed=1 unknown_operator=1 " "refusals by reason"
assert_eq "$(jq -r --arg r "$early" 'select(.event.data.request_id == $r) | .event.type' "$T/ops.jsonl")" "provision.inquiry" "early request provided"
assert_eq "$(jq -r --arg r "$late" 'select(.event.data.request_id == $r) | .event.type' "$T/ops.jsonl")" "refusal.inquiry" "late request refused"
assert_eq "$(jq -r 'select(.event.type == "refusal.inquiry" and .event.data.reason == "revoked") | .event.data.residents | join(",")' "$T/ops.jsonl")" "$P2C" "the refused attempt names the resident"
if grep -q "山口" <(jq -c 'select(.event.type | startswith("provision.")) | .event.data' "$T/ops.jsonl"); then
    fail "personal data in the clear in a provision record"
fi

step "rebuild: the same decisions from offset 0"
dump_provider() {
    psql "$JUKILOG_PG" -XAtq \
        -c "COPY (SELECT * FROM $S.provider_records ORDER BY record_id) TO STDOUT" \
        -c "COPY (SELECT * FROM $S.provider_residents ORDER BY resident_code, record_id) TO STDOUT"
}
kill $PROVIDER
wait $PROVIDER || true
dump_provider >"$T/before"
jk provider --rebuild --until-caught-up >/dev/null
dump_provider >"$T/after"
cmp "$T/before" "$T/after" || fail "rebuilt decisions differ: $(diff "$T/before" "$T/after" | head -5)"
assert_eq "$(psql_q "SELECT outcome || ':' || coalesce(reason, '') FROM $S.provider_records WHERE request_id = '$late'")" "refusal:revoked" "late still refused"
assert_eq "$(psql_q "SELECT outcome FROM $S.provider_records WHERE request_id = '$early'")" "provision" "early still provided"

step "bulk provision of 10,000 conditions"
jk gen --out "$T/gen" --residents 12000 --years 0 --faults 0 --seed 7 >/dev/null
for f in "$T"/gen/periods/0000-initial/*.jsonl; do
    m=$(basename "$f" .jsonl)
    jk cs enroll --municipality "$m" >/dev/null 2>&1 || true
    jk cs send --municipality "$m" "$f" >/dev/null
done
jk projector --until-caught-up >/dev/null
# 6,000 by my number, 3,000 by the 4 information (full-width spaces made half-width), 1,000
# that match nobody (a my number that is nobody's, with a valid check digit).
jq -r 'select(.status == "resident") | [.my_number, .name, .birth_date, .sex, .address] | @tsv' "$T/gen/expected.jsonl" >"$T/all.tsv"
head -9000 "$T/all.tsv" >"$T/people.tsv"
{
    echo "my_number,name,birth_date,sex,address"
    awk -F'\t' 'NR <= 6000 { print $1 ",,,," } NR > 6000 { gsub("　", " ", $2); print "," $2 "," $3 "," $4 "," $5 }' "$T/people.tsv"
    for i in $(seq 1 1000); do echo "$(mynum $((39000000000 + i))),,,,"; done
} >"$T/conditions.csv"
"$JUKILOG" provider >"$T/provider2.out" 2>&1 &
PROVIDER=$!
assert_status 0 jk provide --bulk "$T/conditions.csv" --operator mori --purpose ord.scholarship --out "$T/result.enc" --passphrase-file "$T/pass"
assert_eq "$(jq -c '[.conditions, .matched, .unmatched]' <<<"$OUT")" "[10000,9000,1000]" "matched and unmatched"
assert_eq "$(stat -c %a "$T/result.enc")" "600" "result file mode"
assert_status 0 jk decrypt "$T/result.enc" --passphrase-file "$T/pass"
printf '%s\n' "$OUT" >"$T/result.csv"
assert_eq "$(wc -l <"$T/result.csv")" "10001" "a line per condition"
assert_eq "$(cut -d, -f2 "$T/result.csv" | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ')" "matched=9000 not_found=1000 result=1 " "results"
assert_eq "$(sed -n 2p "$T/result.csv" | cut -d, -f1,2,4)" "2,matched,$(sed -n 1p "$T/people.tsv" | cut -f1)" "first line matched by my number"
printf 'wrong\n' >"$T/wrong"
assert_status 2 jk decrypt "$T/result.enc" --passphrase-file "$T/wrong"
assert_contains "$ERR" "wrong passphrase, or the file was altered" "wrong passphrase"
provision=$(jk journal read --topic operations --until-caught-up | jq -c 'select(.event.type == "provision.bulk") | .event.data')
assert_eq "$(jq -c '[.operator, .purpose, .matched, .unmatched, (.residents | length)]' <<<"$provision")" '["mori","ord.scholarship",9000,1000,9000]' "one provision record listing every resident"
assert_eq "$(psql_q "SELECT count(*) FROM $S.provider_residents r JOIN $S.provider_records p USING (record_id) WHERE p.request_type = 'bulk' AND p.outcome = 'provision'")" "9000" "recorded per resident"
printf 'my_number,name\n%s,\n,only a name\n' "$P1M" >"$T/bad.csv"
assert_status 1 jk provide --bulk "$T/bad.csv" --operator mori --purpose ord.scholarship --out "$T/bad.enc" --passphrase-file "$T/pass"
assert_contains "$ERR" "bad.csv:3: line 3: a search by the 4 information needs all four" "bad line named"
kill $PROVIDER
echo "PASS"
