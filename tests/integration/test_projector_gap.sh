# test_projector_gap.sh: a gap in a CS's chain, filled late. A CS's send fails for some of its
# events and succeeds for the ones after them (they went on other partitions); the projector,
# restarted between every step as `--until-caught-up` does, applies what came; the lost events
# come later from the CS's spool. The tables, and where each chain stands, must equal those of a
# rebuild from offset 0 that reads the same log in one go.
source "$(dirname "$0")/lib.sh"

A=352039
jk admin init >/dev/null
jk cs enroll --municipality $A >/dev/null
S="${JUKILOG_NAMESPACE}_35"
SPOOL="$JUKILOG_HOME/spool/cs_$A.spool"

person() { # person NUMBER: a resident of 山口市
    jq -nc --arg rc "$(rcode "30000000$(printf %02d "$1")")" --arg mn "$(mynum "300000000$(printf %02d "$1")")" \
        --arg n "山本　${1}子" --arg a "山口県山口市湯田温泉${1}丁目1番1号" --arg m $A \
        '{resident_code: $rc, my_number: $mn, name: $n, name_kana: "ヤマモト　ハナコ",
          birth_date: "1990-02-03", sex: "2", address: $a, municipality_code: $m}'
}
births() { # births FIRST LAST: a birth record for each of those residents
    for i in $(seq "$1" "$2"); do chg "$(person "$i")" birth 2026-04-01; done
}
chain() { # where the projector's chain of the CS stands: linked seq and head
    psql_q "SELECT linked || ' ' || head FROM $S.chain_heads WHERE consumer = 'projector' AND source = 'cs:$A'"
}

step "seqs 1-4 sent and applied"
births 1 4 >"$T/first.jsonl"
assert_status 0 jk cs send --municipality $A "$T/first.jsonl"
assert_status 0 jk projector --until-caught-up
assert_eq "$(jq -c '[.events, .applied]' <<<"$OUT")" "[4,4]" "four applied"

step "seqs 5-16 spooled while the broker is away; 5-7 are lost, 8-16 go out"
births 5 16 >"$T/second.jsonl"
assert_status 2 env JUKILOG_BROKERS=127.0.0.1:1 "$JUKILOG" cs send -X message.timeout.ms=1000 \
    --municipality $A "$T/second.jsonl"
assert_eq "$(wc -l <"$SPOOL")" 12 "twelve spooled"
assert_eq "$(head -1 "$SPOOL" | cut -f3 | jq -r .seq)" 5 "the first spooled is seq 5"
head -3 "$SPOOL" >"$T/lost.spool"
sed -i 1,3d "$SPOOL"
cp "$SPOOL" "$T/sent.spool"
: >"$T/empty.jsonl"
assert_status 0 jk cs send --municipality $A "$T/empty.jsonl"
assert_status 0 jk projector --until-caught-up
assert_eq "$(jq -c '[.events, .applied]' <<<"$OUT")" "[9,9]" "8-16 applied ahead of the gap"
assert_eq "$(chain | cut -d' ' -f1)" 4 "the chain is linked up to 4"

step "a resent copy of seq 9, while 5-7 are still missing, is dropped"
sed -n 2p "$T/sent.spool" >"$SPOOL"
assert_eq "$(cut -f3 "$SPOOL" | jq -r .seq)" 9 "seq 9 spooled again"
assert_status 0 jk cs send --municipality $A "$T/empty.jsonl"
assert_status 0 jk projector --until-caught-up
assert_eq "$(jq -c '[.events, .applied, .duplicates]' <<<"$OUT")" "[0,0,1]" "dropped"

step "the lost seqs 5-7 come from the spool; a restarted projector links 5-16"
cp "$T/lost.spool" "$SPOOL"
assert_status 0 jk cs send --municipality $A "$T/empty.jsonl"
assert_status 0 jk projector --until-caught-up
assert_eq "$(jq -c '[.events, .applied]' <<<"$OUT")" "[3,3]" "5-7 applied"
assert_eq "$(chain | cut -d' ' -f1)" 16 "the chain is linked up to 16"

step "seq 17 follows"
births 17 17 | jk cs send --municipality $A - >/dev/null
assert_status 0 jk projector --until-caught-up
assert_eq "$(jq -c '[.events, .applied]' <<<"$OUT")" "[1,1]" "17 applied"
assert_eq "$(chain | cut -d' ' -f1)" 17 "linked up to 17"
assert_eq "$(psql_q "SELECT count(*) FROM $S.identity")" 17 "seventeen residents"

step "a rebuild from offset 0 gives the same tables and the same chain"
dump_tables >"$T/live.dump"
chain >"$T/live.chain"
assert_status 0 jk projector --rebuild --until-caught-up
dump_tables >"$T/rebuilt.dump"
chain >"$T/rebuilt.chain"
assert_eq "$(cat "$T/rebuilt.chain")" "$(cat "$T/live.chain")" "chain after rebuild"
cmp "$T/live.dump" "$T/rebuilt.dump" || fail "rebuild differs from the live tables: $(diff "$T/live.dump" "$T/rebuilt.dump" | head -20)"
