# test_journal.sh: the journal end to end on the real broker and database:
# admin init (twice), CS enrollment (twice), errors for bad codes and missing keys,
# 10,000 events from 3 sources appended and read back with every chain and signature verified,
# a chain continued by a later run, and forged or malformed events caught.
source "$(dirname "$0")/lib.sh"

step "admin init creates the tenant"
assert_status 0 jk admin init
assert_eq "$(grep -c ': created$' <<<"$OUT")" 8 "admin key + 7 topics created"
assert_contains "$OUT" "admin key" "admin key line"
assert_contains "$OUT" "of admin:35: registered now" "admin key registered"
assert_contains "$OUT" "service projector:35 key" "projector key"
assert_eq "$(grep -o 'service [a-z]*:35' <<<"$OUT" | tr '\n' ' ')" "service projector:35 service relay:35 service provider:35 service auditor:35 service consistency:35 " "service keys"
assert_eq "$(grep -c 'registered now' <<<"$OUT")" 6 "admin and the five service keys registered"
assert_eq "$(stat -c %a "$JUKILOG_HOME/keys/admin.pem")" 600 "admin key file mode"
assert_eq "$(psql_q "select count(*) from information_schema.tables where table_schema = '${JUKILOG_NAMESPACE}_35'")" 2 "schema tables"

step "admin init again changes nothing"
assert_status 0 jk admin init
assert_eq "$(grep -c ': exists$' <<<"$OUT")" 8 "everything exists"
assert_eq "$(grep -c 'registered now' <<<"$OUT" || true)" 0 "no second registration"

step "enrolling three municipalities, and again"
for m in 352012 352039 352152; do
    assert_status 0 jk cs enroll --municipality $m
    assert_contains "$OUT" "\"source\":\"cs:$m\"" "enroll $m"
    assert_contains "$OUT" '"status":"enrolled"' "enroll $m"
done
assert_status 0 jk cs enroll --municipality 352039
assert_contains "$OUT" '"status":"already_enrolled"' "second enroll"

step "bad input: one line naming what failed, exit 2"
assert_status 2 jk cs enroll --municipality 352013
assert_eq "$ERR" "jukilog cs enroll: municipality code 352013: check digit should be 2" "bad check digit"
assert_status 2 jk cs enroll --municipality 131016
assert_eq "$ERR" "jukilog cs enroll: municipality 131016 is not in prefecture 35" "other prefecture"
assert_status 2 jk cs enroll --municipality 35203
assert_eq "$(wc -l <<<"$ERR")" 1 "one line"
assert_status 2 jk journal append --as cs:352021 --topic identity /dev/null
assert_contains "$ERR" "no key for cs:352021" "missing key"
assert_eq "$(wc -l <<<"$ERR")" 1 "one line"
printf '{"type":"demo.noted","data":{"n":1}}\n{"type":"demo.noted","data":{"x":1.5}}\n' >"$T/bad.jsonl"
assert_status 2 jk journal append --as cs:352012 --topic identity "$T/bad.jsonl"
assert_contains "$ERR" "line 2" "bad line named"
assert_contains "$ERR" "floating-point" "float refused"
assert_eq "$OUT" "" "nothing appended"

step "10,000 events from 3 sources"
make_events 3334 1 >"$T/a.jsonl"
make_events 3333 10001 >"$T/b.jsonl"
make_events 3333 20001 >"$T/c.jsonl"
jk journal append --as cs:352012 --topic identity "$T/a.jsonl" >"$T/a.out" &
pa=$!
jk journal append --as cs:352039 --topic identity "$T/b.jsonl" >"$T/b.out" &
pb=$!
jk journal append --as cs:352152 --topic identity "$T/c.jsonl" >"$T/c.out" &
pc=$!
wait $pa && wait $pb && wait $pc || fail "an append failed"
assert_eq "$(grep -c '"status":"sent"' "$T/a.out")" 3334 "a sent"
assert_eq "$(grep -c '"status":"sent"' "$T/b.out")" 3333 "b sent"
assert_eq "$(grep -c '"status":"sent"' "$T/c.out")" 3333 "c sent"
assert_eq "$(tail -n 1 "$T/a.out" | grep -o '"seq":[0-9]*')" '"seq":3334' "last seq of a"

step "read back: every signature and chain verified"
assert_status 0 jk verify --topic admin --topic identity
assert_eq "$(tail -n 1 <<<"$OUT")" "verified 10012 events from 4 sources: 0 invalid, 0 bad signatures, 0 forks, 0 gaps, 0 duplicates dropped" "summary"
assert_contains "$OUT" '{"source":"cs:352012","linked":3334,' "chain of 352012"
assert_contains "$OUT" '{"source":"cs:352039","linked":3333,' "chain of 352039"
assert_contains "$OUT" '{"source":"cs:352152","linked":3333,' "chain of 352152"
assert_contains "$OUT" '{"source":"admin:35","linked":12,' "chain of the admin"
jk journal read --topic identity --until-caught-up >"$T/read.jsonl"
assert_eq "$(wc -l <"$T/read.jsonl")" 10000 "events read"
assert_eq "$(grep -c '"status":"ok"' "$T/read.jsonl")" 10000 "all ok"
# every (source, seq) exactly once, and within each partition each source's seqs increase
sed -E 's/.*"partition":([0-9]+).*"seq":([0-9]+).*"source":"([^"]+)".*/\1 \3 \2/' "$T/read.jsonl" >"$T/pss"
assert_eq "$(awk '{print $2, $3}' "$T/pss" | sort -u | wc -l)" 10000 "distinct (source, seq)"
assert_eq "$(awk '{k = $1 " " $2; if (k in last && $3 <= last[k]) bad++; last[k] = $3} END {print bad + 0}' "$T/pss")" 0 "per-source order within partitions"
assert_eq "$(cut -d' ' -f1 "$T/pss" | sort -u | wc -l)" 3 "spread over the 3 partitions"

step "a later run continues the chain"
make_events 10 30001 | jk journal append --as cs:352012 --topic identity - >"$T/d.out"
assert_eq "$(head -n 1 "$T/d.out" | grep -o '"seq":[0-9]*')" '"seq":3335' "first seq of the second run"
assert_status 0 jk verify --topic identity
assert_contains "$OUT" '{"source":"cs:352012","linked":3344,' "chain continued"

step "journal check: a forged event and a malformed one"
grep -m1 '"source":"cs:352039"' "$T/read.jsonl" | sed -E 's/.*"event":(\{.*\})\}$/\1/' >"$T/one.json"
assert_status 0 jk journal check "$T/one.json"
assert_contains "$OUT" '"status":"ok"' "genuine event"
sed 's/"note":"/"note":"x/' "$T/one.json" >"$T/tampered.json"
assert_status 1 jk journal check "$T/tampered.json"
assert_contains "$OUT" '"status":"bad_signature"' "tampered event"
sed 's/"seq":[0-9]*/"seq":0/' "$T/one.json" >"$T/malformed.json"
assert_status 2 jk journal check "$T/malformed.json"
assert_contains "$ERR" 'line 1' "malformed: line"
assert_contains "$ERR" '"seq"' "malformed: field"

step "on the log: an event signed with another municipality's key is a bad signature"
# cs:352012 signs an event claiming to come from cs:352039, sent straight to the broker.
printf '{"type":"demo.noted","subject":"00000099999","data":{"n":1}}\n' >"$T/f.jsonl"
mkdir -p "$T/forger/keys"
cp "$JUKILOG_HOME/keys/cs_352012.pem" "$T/forger/keys/cs_352039.pem"
JUKILOG_HOME="$T/forger" jk journal append --as cs:352039 --topic identity "$T/f.jsonl" >/dev/null
assert_status 1 jk verify --topic identity
assert_contains "$OUT" '"status":"bad_signature"' "forged event reported"
assert_contains "$(tail -n 1 <<<"$OUT")" "1 bad signatures" "summary counts it"
echo "PASS"
