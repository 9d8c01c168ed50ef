# test_provider_crash.sh: the provider killed with SIGKILL again and again while it answers a
# stream of requests, then restarted: every request is decided exactly once (one row each in
# provider_records and provider_residents), every request has its record on the log, and what
# a crash made the provider append twice carries the same record id, so the auditor counts
# each provision once.
source "$(dirname "$0")/lib.sh"

A=352039
S="${JUKILOG_NAMESPACE}_35"
N=3000
jk admin init >/dev/null
jk cs enroll --municipality $A >/dev/null
P1=$(jq -nc --arg rc "$(rcode 2000000001)" --arg mn "$(mynum 20000000001)" --arg m $A \
    '{resident_code: $rc, my_number: $mn, name: "山口　一郎", name_kana: "ヤマグチ　イチロウ",
      birth_date: "1970-04-01", sex: "1", address: "山口県山口市中央一丁目1番1号", municipality_code: $m}')
P1C=$(jq -r .resident_code <<<"$P1")
chg "$P1" ex_officio_entry 2026-04-01 >"$T/load.jsonl"
jk cs send --municipality $A "$T/load.jsonl" >/dev/null
jk projector --until-caught-up >/dev/null
jk operator add --id sato --department kenko_fukushi --role staff --purposes b5.child_rearing_allowance >/dev/null

step "$N requests on the log before the provider starts"
# The operator's own signing key, used as any source's key by `journal append`.
cp "$JUKILOG_HOME/keys/operators/sato/signing.pem" "$JUKILOG_HOME/keys/op_sato.pem"
for i in $(seq 1 $N); do
    id=$(printf '%032x' "$i")
    printf '{"id":"%s","subject":"%s","type":"request.inquiry","data":{"operator":"sato","purpose":"b5.child_rearing_allowance","query":{"resident_code":"%s"},"limit":1}}\n' \
        "$id" "$id" "$P1C"
done >"$T/requests.jsonl"
jk journal append --as op:sato --topic operations "$T/requests.jsonl" >"$T/append.out"
assert_eq "$(grep -c '"status":"sent"' "$T/append.out")" "$N" "requests appended"

step "the provider killed mid-stream, six times"
records() { psql_q "SELECT count(*) FROM $S.provider_records" 2>/dev/null || echo 0; }
for k in 1 2 3 4 5 6; do
    "$JUKILOG" provider >>"$T/provider.out" 2>>"$T/provider.err" &
    pid=$!
    sleep "0.$((RANDOM % 7 + 3))"
    kill -9 $pid
    wait $pid 2>/dev/null || true
    echo "   killed after $(records) of $N decided"
done
assert_status 0 jk provider --until-caught-up

step "every request decided exactly once"
assert_eq "$(psql_q "SELECT count(*), count(DISTINCT request_id), count(*) FILTER (WHERE outcome = 'provision') FROM $S.provider_records")" \
    "$N|$N|$N" "provider_records: one provision per request"
assert_eq "$(psql_q "SELECT count(*), count(DISTINCT record_id) FROM $S.provider_residents WHERE resident_code = '$P1C'")" \
    "$N|$N" "provider_residents: one row per provision"
assert_eq "$(psql_q "SELECT count(*) FROM $S.provider_records r WHERE record_id <> (SELECT record_id FROM $S.provider_records WHERE request_id = r.request_id)")" \
    "0" "record ids"

step "every request has its record on the log; copies share the record id"
jk journal read --topic operations --until-caught-up >"$T/log.jsonl"
assert_eq "$(jq -r 'select(.event.source == "provider:35") | .event.data.request_id' "$T/log.jsonl" | sort -u | wc -l)" \
    "$N" "requests answered on the log"
assert_eq "$(jq -r 'select(.event.source == "provider:35") | [.event.id, .event.data.request_id] | @tsv' "$T/log.jsonl" | sort -u |
    awk '{ n[$1]++; r[$2]++ } END { print length(n), length(r) }')" "$N $N" "one record id per request"
assert_eq "$(jq -r 'select(.event.source == "provider:35") | .status' "$T/log.jsonl" | sort -u)" "ok" "every record verifies"
echo "   $(jq -r 'select(.event.source == "provider:35")' "$T/log.jsonl" | jq -s length) records on the log for $N requests"

step "the auditor counts each provision once"
assert_status 0 jk auditor --until-caught-up
assert_eq "$(psql_q "SELECT count(*), count(DISTINCT request_id) FROM $S.audit_records WHERE kind = 'provision'")" \
    "$N|$N" "audit_records"

step "the answer reaches the operator"
assert_status 0 jk inquire --operator sato --answer-to "$(printf '%032x' 1)" --json
assert_eq "$(jq -c '[.outcome, .count, .records[0].resident_code]' <<<"$OUT")" "[\"provision\",1,\"$P1C\"]" "answer to the first request"
