# test_audit.sh: the audit views against a crafted operation history: requests signed by
# operators, provision and refusal records by the provider (crafted with journal append, request
# times at the edges of fiscal years and office hours), a record appended twice with one id (the
# first wins), a record from someone who is not the provider (ignored). Checks the views per
# resident, operator and department, the yearly statistics per category, the flags, that reads
# are recorded, that a rebuild with another batch size gives the same tables; then the sample:
# rate 1 and 0, reviewers never the operator nor of the department, no eligible reviewer, the
# same worksheet after rebuilds with other batch sizes and in another namespace where the
# records sit in other partitions, reviews and sample-status.
source "$(dirname "$0")/lib.sh"

S="${JUKILOG_NAMESPACE}_35"
jk admin init >/dev/null

step "operators, each with their signing key as source op:<id>"
add_op() { # add_op ID DEPARTMENT ROLE PURPOSES
    jk operator add --id "$1" --department "$2" --role "$3" --purposes "$4" >/dev/null
    cp "$JUKILOG_HOME/keys/operators/$1/signing.pem" "$JUKILOG_HOME/keys/op_$1.pem"
}
add_op sato kenko_fukushi staff b5.child_rearing_allowance,ord.nursing_loan
add_op suzuki kenko_fukushi staff b5.child_rearing_allowance
add_op takahashi kenko_fukushi staff b5.child_rearing_allowance
add_op tanaka somu bulk b5.automobile_tax
add_op kimura shimin staff disclosure.self
add_op nakamura keisatsu staff b6.adult_entertainment

P1=$(rcode 3520390001) P2=$(rcode 3520390002) P3=$(rcode 3520390003) P4=$(rcode 3520390004)

# requests OP N TYPE PURPOSE: N requests of one operator; prints their ids.
requests() {
    local i
    for ((i = 0; i < $2; i++)); do
        if [ "$3" == bulk ]; then
            jq -nc --arg o "$1" --arg p "$4" '{type: "request.bulk", data: {operator: $o, purpose: $p,
                conditions_sha256: ("0" * 64), count: 1, conditions: [{line: 1, my_number: "621498320257"}]}}'
        else
            jq -nc --arg o "$1" --arg p "$4" --arg t "$3" --arg r "$P1" '{type: ("request." + $t),
                data: {operator: $o, purpose: $p, query: {resident_code: $r}, limit: 100}}'
        fi
    done >"$T/req.jsonl"
    jk journal append --as "op:$1" --topic operations "$T/req.jsonl" | jq -r .id
}
mapfile -t Q_SATO < <(requests sato 4 inquiry b5.child_rearing_allowance)
mapfile -t Q_SUZUKI < <(requests suzuki 8 inquiry b5.child_rearing_allowance)
mapfile -t Q_TAKA < <(requests takahashi 3 inquiry b5.child_rearing_allowance)
mapfile -t Q_TANAKA < <(requests tanaka 1 bulk b5.automobile_tax)
mapfile -t Q_KIMURA < <(requests kimura 1 disclosure disclosure.self)
mapfile -t Q_NAKA < <(requests nakamura 1 inquiry b6.driving_license)
assert_eq "${#Q_SATO[@]} ${#Q_SUZUKI[@]} ${#Q_TAKA[@]}" "4 8 3" "requests appended"

step "the provider's records, crafted"
# prov NAME REQ REQTYPE OP DEP PURPOSE CAT TIME NATIONAL RESIDENTS COUNT [ID]
prov() {
    jq -nc --arg req "$2" --arg rt "$3" --arg op "$4" --arg dep "$5" --arg p "$6" --arg cat "$7" \
        --arg t "$8" --argjson nat "$9" --argjson res "${10}" --argjson n "${11}" --arg id "${12:-}" \
        '{type: ("provision." + $rt), subject: $req, data: ({request_id: $req, request_type: $rt,
          operator: $op, department: $dep, purpose: $p, category: $cat, request_time: $t,
          national: $nat, residents: $res, items: ["resident_code", "name"], count: $n,
          answer: {sealed: "placeholder"}} + (if $rt == "bulk" then {matched: $n, unmatched: 1} else {} end))}
         + (if $id == "" then {} else {id: $id} end)'
}
# refu REQ REQTYPE OP DEP PURPOSE CAT TIME REASON RESIDENTS
refu() {
    jq -nc --arg req "$1" --arg rt "$2" --arg op "$3" --argjson dep "$4" --arg p "$5" --argjson cat "$6" \
        --arg t "$7" --arg why "$8" --argjson res "$9" \
        '{type: ("refusal." + $rt), subject: $req, data: {request_id: $req, request_type: $rt,
          operator: $op, department: $dep, purpose: $p, category: $cat, request_time: $t,
          reason: $why, detail: "crafted", residents: $res}}'
}
R1ID=0123456789abcdef0123456789abcdef
GHOST_REQ=fedcba9876543210fedcba9876543210
{
    prov R1 "${Q_SATO[0]}" inquiry sato kenko_fukushi b5.child_rearing_allowance betsu5 2025-06-02T01:00:00.000Z false "[\"$P1\"]" 1 $R1ID
    prov R2 "${Q_SATO[1]}" inquiry sato kenko_fukushi ord.nursing_loan ordinance 2025-06-02T01:05:00.000Z false "[\"$P2\"]" 1
    prov R3 "${Q_SUZUKI[0]}" inquiry suzuki kenko_fukushi b5.child_rearing_allowance betsu5 2025-06-02T02:00:00.000Z true "[\"$P3\"]" 1
    prov R4 "${Q_TANAKA[0]}" bulk tanaka somu b5.automobile_tax betsu5 2025-07-01T03:00:00.000Z false "[\"$P1\",\"$P2\",\"$P4\"]" 3
    prov R5 "${Q_KIMURA[0]}" disclosure kimura shimin disclosure.self disclosure 2025-08-01T12:30:00.000Z false "[\"$P1\"]" 1
    refu "${Q_NAKA[0]}" inquiry nakamura '"keisatsu"' b6.driving_license '"betsu6"' 2025-09-01T00:00:00.000Z purpose_not_allowed "[\"$P2\"]"
    refu $GHOST_REQ inquiry ghost null b5.passport null 2025-09-02T01:00:00.000Z unknown_operator '[]'
    prov R8 "${Q_SATO[2]}" inquiry sato kenko_fukushi b5.child_rearing_allowance betsu5 2025-03-31T14:59:59.999Z false "[\"$P3\"]" 1
    prov R9 "${Q_SATO[3]}" inquiry sato kenko_fukushi b5.child_rearing_allowance betsu5 2025-03-31T15:00:00.000Z false "[]" 0
    prov R10 "${Q_TAKA[0]}" inquiry takahashi kenko_fukushi b5.child_rearing_allowance betsu5 2025-06-02T03:00:00.000Z false "[]" 1
    prov R11 "${Q_TAKA[1]}" inquiry takahashi kenko_fukushi b5.child_rearing_allowance betsu5 2025-06-04T11:00:00.000Z false "[]" 1
    prov R12 "${Q_TAKA[2]}" inquiry takahashi kenko_fukushi b5.child_rearing_allowance betsu5 2025-06-04T10:59:59.999Z false "[]" 1
    for i in 1 2 3 4 5 6 7; do
        prov D$i "${Q_SUZUKI[$i]}" inquiry suzuki kenko_fukushi b5.child_rearing_allowance betsu5 "2025-06-03T0$((i - 1)):00:00.000Z" false "[]" 1
    done
} >"$T/records.jsonl"
mapfile -t RID < <(jk journal append --as provider:35 --topic operations "$T/records.jsonl" | jq -r .id)
assert_eq "${#RID[@]} ${RID[0]}" "19 $R1ID" "records appended"
R2=${RID[1]} R3=${RID[2]} R4=${RID[3]} R5=${RID[4]} R6=${RID[5]} R7=${RID[6]} R8=${RID[7]} R9=${RID[8]}
R10=${RID[9]} R11=${RID[10]} R12=${RID[11]}
jk auditor --until-caught-up --batch 4 >"$T/live1"

# The same record id again (a provider deciding again after a crash), claiming another resident;
# and a "provision" signed by an operator: neither may show.
prov R1 "${Q_SATO[0]}" inquiry sato kenko_fukushi b5.child_rearing_allowance betsu5 2025-06-02T01:00:00.000Z false "[\"$P4\"]" 1 $R1ID |
    jk journal append --as provider:35 --topic operations >/dev/null
prov FAKE "${Q_SATO[0]}" inquiry sato kenko_fukushi b5.child_rearing_allowance betsu5 2025-06-02T01:00:00.000Z false "[\"$P4\"]" 1 |
    jk journal append --as op:sato --topic operations >/dev/null
assert_status 0 jk auditor --until-caught-up
assert_eq "$(jq -c '[.events, .requests, .provisions, .refusals, .ignored, .duplicates]' <<<"$OUT")" \
    '[1,0,0,0,1,1]' "second run: one copy dropped, one event ignored"
assert_eq "$(jq -c '[.requests, .provisions, .refusals, .ignored]' "$T/live1")" '[18,17,2,0]' "first run"

step "access per resident: every provision and refusal that touched them, in time order"
acc() { jk audit access "$@" --json | jq -r '[.kind, .time, .id, .operator] | join(" ")'; }
assert_eq "$(acc --resident-code "$P1")" "provision 2025-06-02T01:00:00.000Z $R1ID sato
provision 2025-07-01T03:00:00.000Z $R4 tanaka
provision 2025-08-01T12:30:00.000Z $R5 kimura" "P1"
assert_eq "$(acc --resident-code "$P2")" "provision 2025-06-02T01:05:00.000Z $R2 sato
provision 2025-07-01T03:00:00.000Z $R4 tanaka
refusal 2025-09-01T00:00:00.000Z $R6 nakamura" "P2"
assert_eq "$(acc --resident-code "$P4")" "provision 2025-07-01T03:00:00.000Z $R4 tanaka" "P4: the copy of R1 is not there"
assert_eq "$(acc --resident-code "$P3")" "provision 2025-03-31T14:59:59.999Z $R8 sato
provision 2025-06-02T02:00:00.000Z $R3 suzuki" "P3"
assert_eq "$(jk audit access --resident-code "$P2" --csv | sed -n 4p)" \
    "refusal,2025-09-01T00:00:00.000Z,$R6,${Q_NAKA[0]},inquiry,nakamura,keisatsu,b6.driving_license,betsu6,purpose_not_allowed,$P2" "CSV row"

step "access per operator and department: requests, provisions, refusals, with purpose"
assert_eq "$(jk audit access --operator sato --json | jq -r 'select(.kind != "request") | "\(.id) \(.purpose)"')" \
    "$R8 b5.child_rearing_allowance
$R9 b5.child_rearing_allowance
$R1ID b5.child_rearing_allowance
$R2 ord.nursing_loan" "sato's records"
assert_eq "$(jk audit access --operator sato --json | jq -r 'select(.kind == "request") | "\(.id) \(.department) \(.purpose)"' | sort)" \
    "$(for q in "${Q_SATO[@]}"; do echo "$q kenko_fukushi b5.child_rearing_allowance"; done | sort)" "sato's requests"
assert_eq "$(acc --operator sato --from 2025-04-01T00:00:00+09:00 --to 2025-06-02T01:05:00.000Z)" \
    "provision 2025-03-31T15:00:00.000Z $R9 sato
provision 2025-06-02T01:00:00.000Z $R1ID sato" "from/to: from inclusive, to exclusive"
assert_eq "$(jk audit access --department kenko_fukushi --json | jq -r .kind | sort | uniq -c | tr -s ' ' | tr '\n' ';')" \
    " 15 provision; 15 request;" "kenko_fukushi: 15 requests, 15 provisions"
assert_eq "$(jk audit access --department keisatsu --json | jq -r '"\(.kind) \(.operator) \(.reason // "")"')" \
    "$(printf 'refusal nakamura purpose_not_allowed\nrequest nakamura ')" "keisatsu (the request at its broker time, now)"
assert_status 2 jk audit access --operator sato --department somu
assert_contains "$ERR" "one of --resident-code, --operator, --department is required" "one selector"

step "statistics per fiscal year and category"
assert_status 0 jk audit stats --fiscal-year 2025 --csv
assert_eq "$OUT" "category,provisions,persons,refusals
betsu5,12,11,0
betsu6,0,0,1
ordinance,1,1,0
disclosure,1,1,0
statistics,0,0,0
national,1,1,0
bulk,1,3,0
unknown,0,0,1
total,16,17,2" "FY2025"
assert_eq "$(jk audit stats --fiscal-year 2024 --csv | tr '\n' ';')" \
    "category,provisions,persons,refusals;betsu5,1,1,0;betsu6,0,0,0;ordinance,0,0,0;disclosure,0,0,0;statistics,0,0,0;national,0,0,0;bulk,0,0,0;total,1,1,0;" "FY2024"

step "flags: refusals, off-hours requests, daily counts above 3x the department's median"
assert_status 0 jk audit flags --fiscal-year 2025 --csv
assert_eq "$OUT" "flag,time,id,operator,department,purpose,detail
off_hours,2025-03-31T15:00:00.000Z,$R9,sato,kenko_fukushi,b5.child_rearing_allowance,provision of a request at 00:xx JST
daily_count,2025-06-03,,suzuki,kenko_fukushi,,7 uses on 2025-06-03 (JST); department median 1.5; limit 4.5
off_hours,2025-06-04T11:00:00.000Z,$R11,takahashi,kenko_fukushi,b5.child_rearing_allowance,provision of a request at 20:xx JST
off_hours,2025-08-01T12:30:00.000Z,$R5,kimura,shimin,disclosure.self,provision of a request at 21:xx JST
refusal,2025-09-01T00:00:00.000Z,$R6,nakamura,keisatsu,b6.driving_license,purpose_not_allowed
refusal,2025-09-02T01:00:00.000Z,$R7,ghost,,b5.passport,unknown_operator" "flags FY2025"
assert_eq "$(jk audit flags --fiscal-year 2025 --multiple 4.6 --json | jq -r .flag | grep -c daily_count)" "1" "7 > 4.6 x 1.5"
assert_eq "$(jk audit flags --fiscal-year 2025 --multiple 4.67 --json | jq -r .flag | grep -c daily_count || true)" "0" "7 < 4.67 x 1.5"
assert_eq "$(JUKILOG_AUDIT_MULTIPLE=5 jk audit flags --fiscal-year 2025 --json | jq -r .flag | grep -c daily_count || true)" "0" "multiple from the environment"
assert_eq "$(jk audit flags --fiscal-year 2024 --json | jq -c '[.flag, .id]')" "[\"off_hours\",\"$R8\"]" "FY2024: 23:59 JST"

step "every read is on the log, with its actor"
views_before=$(jk journal read --topic operations --until-caught-up | jq -r 'select(.event.type == "audit.viewed") | .event.source' | sort | uniq -c | tr -s ' ')
assert_eq "$views_before" " 17 auditor:35" "17 reads so far, signed by the auditor"
jk audit stats --fiscal-year 2025 --as-operator kansa1 >/dev/null
jk auditor --until-caught-up >/dev/null
assert_eq "$(psql_q "SELECT actor, data::json->>'view', data::json->'query'->>'fiscal_year', data::json->>'rows' FROM $S.audit_actions ORDER BY n DESC LIMIT 1")" \
    "kansa1|stats|2025|9" "the last read"
assert_eq "$(psql_q "SELECT count(*) FROM $S.audit_actions WHERE type = 'audit.viewed'")" "18" "views recorded by the auditor"

step "rebuild with another batch size: the same tables"
dump_audit() {
    psql "$JUKILOG_PG" -XAtq -c "COPY (SELECT * FROM $S.audit_events ORDER BY n) TO STDOUT" \
        -c "COPY (SELECT * FROM $S.audit_requests ORDER BY n) TO STDOUT" \
        -c "COPY (SELECT * FROM $S.audit_records ORDER BY n) TO STDOUT" \
        -c "COPY (SELECT * FROM $S.audit_actions ORDER BY n) TO STDOUT" \
        -c "COPY (SELECT * FROM $S.audit_admin ORDER BY n) TO STDOUT"
}
dump_audit >"$T/live.dump"
jk auditor --rebuild --until-caught-up --batch 1 >/dev/null
dump_audit >"$T/rebuilt.dump"
cmp "$T/live.dump" "$T/rebuilt.dump" || fail "rebuild differs from the live tables"

step "the sample: rate 1, rate 0, reviewers never the operator nor of the department"
printf 'reviewer,department\nwatanabe,somu\nyamada,kenko_fukushi\nsato,kyoiku_iinkai\n' >"$T/reviewers.csv"
assert_status 0 jk audit sample --fiscal-year 2025 --rate 1 --seed s1 --reviewers "$T/reviewers.csv" --out "$T/all.csv"
assert_eq "$(jq -c '[.provisions, .departments, .drawn, .by_rate, .stratified]' <<<"$OUT")" '[16,3,16,16,0]' "rate 1: every provision"
assert_eq "$(jq -r .worksheet_sha256 <<<"$OUT")" "$(sha256sum "$T/all.csv" | cut -d' ' -f1)" "worksheet hash"
# reviewer: not the operator (column 4), not of the department (column 5)
awk -F, 'NR == FNR { dep[$1] = $2; next } FNR > 1 && ($11 == $4 || dep[$11] == $5) { print "bad: " $0 }' \
    "$T/reviewers.csv" "$T/all.csv" >"$T/bad"
assert_eq "$(cat "$T/bad")" "" "reviewers eligible"
assert_eq "$(awk -F, 'FNR > 1 && $4 == "sato" { print $11 }' "$T/all.csv" | sort -u)" "watanabe" "sato's records go to watanabe only"
assert_status 0 jk audit sample --fiscal-year 2025 --rate 0 --seed s1 --reviewers "$T/reviewers.csv" --out "$T/none.csv"
assert_eq "$(jq -c '[.drawn, .by_rate, .stratified]' <<<"$OUT")" '[3,0,3]' "rate 0: one per department"
assert_eq "$(awk -F, 'FNR > 1 { print $5, $10 }' "$T/none.csv" | sort | tr '\n' ';')" "kenko_fukushi 1;shimin 1;somu 1;" "one per department, stratified"
printf 'reviewer,department\nkimura,kenko_fukushi\nwatanabe,shimin\n' >"$T/few.csv"
assert_status 1 jk audit sample --fiscal-year 2025 --rate 1 --seed s1 --reviewers "$T/few.csv" --out "$T/x.csv"
assert_eq "$ERR" "jukilog audit sample: record $R5 (operator kimura, department shimin): no reviewer is eligible (each is its operator or of its department)" "no eligible reviewer"
[ ! -e "$T/x.csv" ] || fail "no worksheet when the draw fails"

step "the same seed, the same sample: rebuilds with other batch sizes"
assert_status 0 jk audit sample --fiscal-year 2025 --rate 0.3 --seed yearly-2025 --reviewers "$T/reviewers.csv" --out "$T/w1.csv"
drawn=$(jq .drawn <<<"$OUT")
[ "$drawn" -ge 3 ] && [ "$drawn" -lt 16 ] || fail "rate 0.3 drew $drawn of 16"
for b in 7 1000; do
    jk auditor --rebuild --until-caught-up --batch $b >/dev/null
    jk audit sample --fiscal-year 2025 --rate 0.3 --seed yearly-2025 --reviewers "$T/reviewers.csv" --out "$T/w-$b.csv" >/dev/null
    cmp "$T/w1.csv" "$T/w-$b.csv" || fail "batch $b: another worksheet"
done
jk audit sample --fiscal-year 2025 --rate 0.3 --seed other --reviewers "$T/reviewers.csv" --out "$T/w-other.csv" >/dev/null
! cmp -s "$T/w1.csv" "$T/w-other.csv" || fail "another seed gave the same worksheet"

step "reviews and sample-status"
# the latest draw of FY2025 is the one with seed "other"
jk audit sample --fiscal-year 2025 --rate 0.3 --seed yearly-2025 --reviewers "$T/reviewers.csv" --out "$T/w2.csv" >/dev/null
jk auditor --until-caught-up >/dev/null
cmp "$T/w1.csv" "$T/w2.csv" || fail "drawn again: another worksheet"
mapfile -t SAMPLED < <(awk -F, 'FNR > 1 { print $1 " " $11 }' "$T/w2.csv")
read -r rec1 rev1 <<<"${SAMPLED[0]}"
read -r rec2 rev2 <<<"${SAMPLED[1]}"
assert_status 0 jk audit review --record "$rec1" --reviewer "$rev1" --verdict in_purpose --note "looked fine"
assert_status 0 jk audit review --record "$rec2" --reviewer "$rev2" --verdict unclear --note "ask"
assert_status 0 jk audit review --record "$rec2" --reviewer "$rev2" --verdict out_of_purpose --note "confirmed"
other=$([ "$rev1" == yamada ] && echo watanabe || echo yamada)
assert_status 1 jk audit review --record "$rec1" --reviewer "$other" --verdict in_purpose
assert_eq "$ERR" "jukilog audit review: record $rec1 is assigned to $rev1, not $other" "not the assigned reviewer"
assert_status 1 jk audit review --record "$R8" --reviewer watanabe --verdict in_purpose
assert_contains "$ERR" "record $R8 is in no latest draw" "FY2024 record"
jk auditor --until-caught-up >/dev/null
assert_status 0 jk audit sample-status --fiscal-year 2025
assert_eq "$(jq -c '[.seed, .rate, .sampled, .reviewed, .pending, .in_purpose, .out_of_purpose, .unclear]' <<<"$OUT")" \
    "[\"yearly-2025\",\"0.3\",$drawn,2,$((drawn - 2)),1,1,0]" "status"
assert_status 1 jk audit sample-status --fiscal-year 2023
assert_eq "$ERR" "jukilog audit sample-status: no sample drawn for fiscal year 2023" "no draw"

step "another namespace, the provider's records in other partitions: the same worksheet"
NS1=$JUKILOG_NAMESPACE
kcat -C -b "$JUKILOG_BROKERS" -t "$NS1.35.operations" -o beginning -e -q -f '%s\n' |
    jq -c 'select(.type | startswith("provision."))' >"$T/provisions.jsonl"
export JUKILOG_NAMESPACE="${NS1}b"
at_exit 'jk admin drop --confirm "$JUKILOG_NAMESPACE" >/dev/null 2>&1; JUKILOG_NAMESPACE=$NS1'
jk admin init --partitions 5 >/dev/null
awk '{ print (NR * 3) % 5 "\t" $0 }' "$T/provisions.jsonl" >"$T/keyed"
for p in 0 1 2 3 4; do
    awk -F'\t' -v p=$p '$1 == p { print $2 }' "$T/keyed" | kcat -P -b "$JUKILOG_BROKERS" -t "$JUKILOG_NAMESPACE.35.operations" -p $p
done
jk auditor --until-caught-up --batch 3 >"$T/ns2"
assert_eq "$(jq -c '[.provisions, .duplicates]' "$T/ns2")" "[17,1]" "ns2: the provisions, the copy of R1 dropped"
jk audit sample --fiscal-year 2025 --rate 0.3 --seed yearly-2025 --reviewers "$T/reviewers.csv" --out "$T/w-ns2.csv" >/dev/null
cmp "$T/w1.csv" "$T/w-ns2.csv" || fail "another namespace and partitions: another worksheet"
echo "PASS"
