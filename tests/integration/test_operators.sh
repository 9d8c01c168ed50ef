# test_operators.sh: the operator registry as admin events: add (keys, department, role,
# purposes checked against the catalogue), revoke, list as of broker times at the millisecond
# of each change, and registering again after a revocation.
source "$(dirname "$0")/lib.sh"

jk admin init >/dev/null

step "add: checked against the purpose catalogue, one line naming what is wrong"
assert_status 2 jk operator add --id sato --department nowhere --role staff --purposes b5.passport
assert_eq "$ERR" 'jukilog operator add: department "nowhere" is not in the purpose catalogue' "unknown department"
assert_status 2 jk operator add --id sato --department kenko_fukushi --role staff --purposes b5.nothing
assert_eq "$ERR" 'jukilog operator add: purpose "b5.nothing" is not in the purpose catalogue' "unknown purpose"
assert_status 2 jk operator add --id sato --department keisatsu --role staff --purposes b5.passport
assert_eq "$ERR" 'jukilog operator add: department keisatsu may not cite purpose b5.passport' "purpose of another department"
assert_status 2 jk operator add --id sato --department kenko_fukushi --role chief --purposes b5.child_rearing_allowance
assert_contains "$ERR" '--role must be staff, bulk or admin, not "chief"' "bad role"
assert_status 2 jk operator add --id Sato --department kenko_fukushi --role staff --purposes b5.child_rearing_allowance
assert_contains "$ERR" '--id "Sato" must be' "bad id"

step "add, list, revoke"
assert_status 0 jk operator add --id sato --department kenko_fukushi --role staff --purposes b5.child_rearing_allowance,b5.hibakusha
assert_eq "$OUT" '{"operator":"sato","status":"registered","department":"kenko_fukushi","role":"staff","purposes":["b5.child_rearing_allowance","b5.hibakusha"]}' "added"
assert_eq "$(stat -c %a "$JUKILOG_HOME/keys/operators/sato/signing.pem") $(stat -c %a "$JUKILOG_HOME/keys/operators/sato/encryption.pem")" "600 600" "key files"
assert_status 2 jk operator add --id sato --department kenko_fukushi --role staff --purposes b5.hibakusha
assert_eq "$ERR" "jukilog operator add: operator sato is registered already (revoke them first)" "no second registration"
assert_status 0 jk operator revoke --id sato --reason transferred
assert_eq "$OUT" '{"operator":"sato","status":"revoked"}' "revoked"
assert_status 2 jk operator revoke --id sato
assert_eq "$ERR" "jukilog operator revoke: operator sato is not registered now (revoked)" "revoked twice"
assert_status 0 jk operator add --id sato --department somu --role bulk --purposes b5.automobile_tax
assert_contains "$OUT" '"department":"somu","role":"bulk"' "registered again elsewhere"

step "list as of the broker time of each change"
jk journal read --topic admin --until-caught-up | jq -r 'select(.event.data.operator == "sato") | "\(.broker_time) \(.event.type)"' >"$T/times"
assert_eq "$(cut -d' ' -f2 "$T/times" | tr '\n' ' ')" "operator.registered purpose.granted operator.revoked operator.registered purpose.granted " "events"
t_reg=$(sed -n 1p "$T/times" | cut -d' ' -f1)
t_rev=$(sed -n 3p "$T/times" | cut -d' ' -f1)
before() { psql_q "SELECT to_char(('$1'::timestamptz - interval '1 millisecond') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"; }
assert_eq "$(jk operator list --as-of "$(before "$t_reg")")" "" "nobody before the registration"
assert_eq "$(jk operator list --as-of "$t_reg" | jq -c '[.operator, .department, .purposes]')" \
    '["sato","kenko_fukushi",["b5.child_rearing_allowance","b5.hibakusha"]]' "at the registration"
assert_eq "$(jk operator list --as-of "$(before "$t_rev")" | jq -r .department)" "kenko_fukushi" "just before the revocation"
assert_eq "$(jk operator list --as-of "$t_rev")" "" "at the revocation"
assert_eq "$(jk operator list | jq -c '[.operator, .department, .role, .purposes]')" '["sato","somu","bulk",["b5.automobile_tax"]]' "now"
echo "PASS"
