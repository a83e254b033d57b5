#!/usr/bin/env bash
# The worked example: every capability of the service, over HTTP with curl and jq, against a
# service started by `bash scripts/start.sh`. The README shows its key steps; this is the full,
# tested version (tests/test_demo.py runs it in CI against a freshly started service).
#
#   bash scripts/demo.sh          # reads instance/demo.env, written by scripts/start.sh
#
# Credentials come from the environment (BLOCKLIST_URL, CLIENT_ID/CLIENT_SECRET: the demo
# carrier, REGULATOR_ID/REGULATOR_SECRET: the demo regulator) or, when CLIENT_ID is unset, from
# $BLOCKLIST_INSTANCE_DIR/demo.env (default instance/demo.env). Every request's status is
# checked and every answer that matters is asserted: the script stops at the first surprise
# with the request, its status and its body. It can run again and again against the same
# service: values it changes for good (expire, withdraw, revoke, disputes) are new each run, the
# org it suspends is one it creates, and the story's values are simply corroborated again.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${CLIENT_ID:-}" ]; then
  env_file="${BLOCKLIST_INSTANCE_DIR:-instance}/demo.env"
  [ -r "$env_file" ] || { echo "no credentials: start the service with scripts/start.sh (writes $env_file)" >&2; exit 2; }
  # shellcheck source=/dev/null
  source "$env_file"
fi
: "${CLIENT_ID:?}" "${CLIENT_SECRET:?}" "${REGULATOR_ID:?}" "${REGULATOR_SECRET:?}"
URL="${BLOCKLIST_URL:-http://127.0.0.1:8000}"
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "$tool is required (apt-get install $tool)" >&2; exit 2; }
done
SYNC=.venv/bin/blocklist-sync
[ -x "$SYNC" ] || SYNC=blocklist-sync

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# Digits new on every run, for the values this run expires, withdraws, revokes or disputes.
RUN=$(date +%s%N | cut -c6-13)

# --- helpers ---------------------------------------------------------------------------------

step() { printf '\n== %s\n' "$*"; }
fail() { echo "DEMO FAILED: $*" >&2; exit 1; }

# call EXPECTED METHOD PATH [curl options...]: the body on stdout; fails unless the status
# matches EXPECTED (a regex such as 200 or '200|201'). Headers are kept in $WORK/headers.
call() {
  local expected=$1 method=$2 path=$3 status
  shift 3
  status=$(curl -sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' -X "$method" "$@" "$URL$path") ||
    fail "$method $path: no answer from $URL"
  if ! [[ $status =~ ^($expected)$ ]]; then
    echo "DEMO FAILED: $method $path answered $status, expected $expected:" >&2
    cat "$WORK/body" >&2
    echo >&2
    exit 1
  fi
  cat "$WORK/body"
}
# header NAME: that header of the last call's answer
header() { grep -i "^$1:" "$WORK/headers" | tail -1 | cut -d' ' -f2- | tr -d '\r'; }
# check JSON FILTER WHAT: assert a jq filter holds for the JSON, or stop
check() { jq -e "$2" >/dev/null <<<"$1" || fail "$3 (expected: $2): $1"; }
# show JSON [FILTER]: print part of an answer, compactly
show() { jq -c "${2:-.}" <<<"$1"; }

token() {
  local answer
  answer=$(call 200 POST /oauth/token -u "$1:$2" -d grant_type=client_credentials)
  jq -r .access_token <<<"$answer"
}
json=(-H 'Content-Type: application/json')

# --- 0. the service is up ----------------------------------------------------------------------

step "health and readiness: GET /healthz, GET /readyz"
call 200 GET /healthz >/dev/null
call 200 GET /readyz >/dev/null
echo "$URL is ready"

# --- 1. tokens -------------------------------------------------------------------------------

step "tokens (client credentials; HTTP Basic here, form fields work too)"
CARRIER=$(token "$CLIENT_ID" "$CLIENT_SECRET")
REGULATOR=$(token "$REGULATOR_ID" "$REGULATOR_SECRET")
AS_CARRIER=(-H "Authorization: Bearer $CARRIER")
AS_REGULATOR=(-H "Authorization: Bearer $REGULATOR")
answer=$(call 200 POST /oauth/introspect -u "$CLIENT_ID:$CLIENT_SECRET" -d "token=$CARRIER")
check "$answer" '.active == true' "introspection of the carrier's token"
show "$answer" '{active, scope, client_id}'
# a narrower token: a subset of the client's scopes (more is refused)
narrow=$(call 200 POST /oauth/token -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials -d scope=entries:read)
check "$narrow" '.scope == "entries:read"' "a narrower token"
call 400 POST /oauth/token -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials -d scope=admin >/dev/null
echo "a carrier cannot get the admin scope: 400 invalid_scope"

# --- 2. publish ------------------------------------------------------------------------------

step "publish one value: POST /v1/entries (201 new, 200 corroborated), with an Idempotency-Key"
answer=$(call '200|201' POST /v1/entries "${AS_CARRIER[@]}" "${json[@]}" -H "Idempotency-Key: demo-code-$RUN" \
  -d '{"kind": "code", "value": "10687415", "reason": "leased 1068 code sent 6,525 scam texts",
       "category": "fraud", "tags": ["channel:sms", "fraud:impersonation"]}')
check "$answer" '.kind == "code" and .value == "10687415" and .status == "active"' "publish 10687415"
show "$answer" '{id, kind, value, status, reporters, tags}'
CODE_ID=$(jq -r .id <<<"$answer")
again=$(call '200|201' POST /v1/entries "${AS_CARRIER[@]}" "${json[@]}" -H "Idempotency-Key: demo-code-$RUN" \
  -d '{"kind": "code", "value": "10687415", "reason": "leased 1068 code sent 6,525 scam texts",
       "category": "fraud", "tags": ["channel:sms", "fraud:impersonation"]}')
[ "$(header Idempotent-Replayed)" = true ] || fail "a retry with the same Idempotency-Key was not replayed"
check "$again" ".id == $CODE_ID" "the replayed answer"
echo "retried with the same Idempotency-Key: the first answer, replayed (Idempotent-Replayed: true)"

step "publish in bulk: POST /v1/entries/bulk (all or nothing, Idempotency-Key honoured)"
bulk=$(jq -n --arg run "$RUN" '{items: [
  {kind: "code", value: "10684500", reason: "sub-let 1068 code, same chain", tags: ["channel:sms"]},
  {kind: "range", value: "952750xx", reason: "call-centre block sub-let to a fraud ring (266 cases)",
   tags: ["channel:voice", "fraud:call-centre"]},
  {kind: "keyword", value: "安全账户", reason: "\"safe account\": transfer scams", tags: ["fraud:safe-account"]},
  {kind: "url", value: "http://icbc-safe-verify.top/login", tags: ["fraud:phishing"]},
  {kind: "domain", value: "icbc-safe-verify.top", tags: ["fraud:phishing"]},
  {kind: "number", value: ("+86 139 " + $run), reason: "scam calls (PATCHed below)"},
  {kind: "number", value: ("+86 137 " + $run), reason: "scam calls (expired below)"},
  {kind: "number", value: ("+86 136 " + $run), reason: "scam calls (withdrawn below)"},
  {kind: "number", value: ("+86 135 " + $run), reason: "scam calls (revoked below)"},
  {kind: "number", value: ("+86 134 " + $run), reason: "scam calls (disputed below)"}
]}')
answer=$(call 200 POST /v1/entries/bulk "${AS_CARRIER[@]}" "${json[@]}" -H "Idempotency-Key: demo-bulk-$RUN" -d "$bulk")
check "$answer" '(.items | length) == 10 and .created >= 5' "bulk publish"
show "$answer" '{created, relisted, corroborated, refreshed}'
id_of() { jq -r --arg v "$1" '.items[] | select(.value == $v) | .id' <<<"$answer"; }
PATCH_ID=$(id_of "+86139$RUN")
EXPIRE_ID=$(id_of "+86137$RUN")
WITHDRAW_ID=$(id_of "+86136$RUN")
REVOKE_ID=$(id_of "+86135$RUN")
DISPUTE_ID=$(id_of "+86134$RUN")
for id in "$PATCH_ID" "$EXPIRE_ID" "$WITHDRAW_ID" "$REVOKE_ID" "$DISPUTE_ID"; do
  [[ $id =~ ^[0-9]+$ ]] || fail "bulk publish did not return the numbers' ids: $answer"
done
replayed=$(call 200 POST /v1/entries/bulk "${AS_CARRIER[@]}" "${json[@]}" -H "Idempotency-Key: demo-bulk-$RUN" -d "$bulk")
[ "$(header Idempotent-Replayed)" = true ] || fail "the bulk retry was not replayed"
jq -e --argjson first "$answer" '. == $first' >/dev/null <<<"$replayed" || fail "the bulk retry answered differently"
echo "the bulk retry with the same key: the same answer, nothing written twice"
answer=$(call 422 POST /v1/entries "${AS_CARRIER[@]}" "${json[@]}" -d '{"kind": "number", "value": "not a number"}')
show "$answer" '{status, detail}'

# --- 3. look-ups -----------------------------------------------------------------------------

step "look up a code: GET /v1/lookup?value=10687415"
answer=$(call 200 GET '/v1/lookup?value=10687415' "${AS_CARRIER[@]}")
check "$answer" '.listed == true and any(.matches[]; .value == "10687415")' "look-up of 10687415"
show "$answer" '{value, listed, matches: [.matches[] | {id, kind, value, reporters}]}'

step "a number in the range 952750xx: GET /v1/lookup?value=95275012 (numbers also match covering ranges)"
answer=$(call 200 GET '/v1/lookup?value=95275012' "${AS_CARRIER[@]}")
check "$answer" '.listed == true and any(.matches[]; .kind == "range" and .value == "952750xx")' "look-up of 95275012"
show "$answer" '{value, listed, matches: [.matches[] | {kind, value}]}'

step "a URL and a host: GET /v1/lookup?kind=url|domain"
answer=$(call 200 GET '/v1/lookup' "${AS_CARRIER[@]}" -G --data-urlencode kind=url \
  --data-urlencode 'value=HTTP://ICBC-safe-verify.top/login?ref=sms')
check "$answer" '.listed == true' "look-up of the phishing URL"
show "$answer" '{value, listed, matches: [.matches[] | {kind, value}]}'
answer=$(call 200 GET '/v1/lookup?kind=domain&value=pay.icbc-safe-verify.top' "${AS_CARRIER[@]}")
check "$answer" '.listed == true and any(.matches[]; .kind == "domain")' "look-up of a subdomain"
show "$answer" '{value, listed, matches: [.matches[] | {kind, value}]}'
answer=$(call 200 GET '/v1/lookup?value=10010' "${AS_CARRIER[@]}")
check "$answer" '.listed == false' "look-up of an unlisted value"
echo "10010: not listed"

step "batch look-up: POST /v1/lookup (up to 1,000 values, one verdict each, in order)"
answer=$(call 200 POST /v1/lookup "${AS_CARRIER[@]}" "${json[@]}" -d '{"values": [
  {"value": "10687415"}, {"value": "+86 952 7501 2", "kind": "number"}, {"value": "10010"},
  {"value": "http://icbc-safe-verify.top/login", "kind": "url"}]}')
check "$answer" '[.results[].listed] == [true, true, false, true]' "batch look-up"
show "$answer" '[.results[] | {value, listed}]'

# --- 4. message check ------------------------------------------------------------------------

step "check an SMS: POST /v1/check (spaces inside keywords do not help the scammer)"
answer=$(call 200 POST /v1/check "${AS_CARRIER[@]}" "${json[@]}" \
  -d '{"sender": "10687415", "text": "【公安】您的账户涉嫌洗钱，请立即将资金转入安 全 账 户，详见 icbc-safe-verify.top/login"}')
check "$answer" '.verdict == "block"' "the check's verdict"
check "$answer" 'any(.matches[]; .field == "sender") and any(.matches[]; .kind == "keyword")' "the check's matches"
show "$answer" '{verdict, matches: [.matches[] | {kind, value, field, span}]}'
answer=$(call 200 POST /v1/check "${AS_CARRIER[@]}" "${json[@]}" -d '{"sender": "10010", "text": "您本月话费账单已出"}')
check "$answer" '.verdict == "allow" and (.matches | length) == 0' "a clean message"
echo "a clean message: allow"

# --- 5. tags ---------------------------------------------------------------------------------

step "tags with counts: GET /v1/tags"
answer=$(call 200 GET '/v1/tags?limit=20' "${AS_CARRIER[@]}")
check "$answer" 'any(.items[]; .tag == "channel:sms")' "the tag list"
show "$answer" '[.items[] | {tag, count}]'
answer=$(call 200 GET '/v1/entries?tag=fraud:phishing&status=active' "${AS_CARRIER[@]}")
check "$answer" '(.items | length) >= 2' "entries by tag"
echo "entries tagged fraud:phishing: $(jq -c '[.items[] | .value]' <<<"$answer")"

# --- 6. PATCH with ETag / If-Match -----------------------------------------------------------

step "change an entry: GET for its ETag, PATCH with If-Match; a stale ETag gets 412"
call 200 GET "/v1/entries/$PATCH_ID" "${AS_CARRIER[@]}" >/dev/null
etag=$(header ETag)
[ -n "$etag" ] || fail "GET /v1/entries/$PATCH_ID has no ETag"
answer=$(call 200 PATCH "/v1/entries/$PATCH_ID" "${AS_CARRIER[@]}" "${json[@]}" -H "If-Match: $etag" \
  -d '{"add_tags": ["fraud:ticket-scam"], "category": "fraud"}')
new_etag=$(header ETag)
check "$answer" '(.tags | index("fraud:ticket-scam")) != null and .category == "fraud"' "the PATCH"
show "$answer" '{id, value, tags, category}'
echo "ETag $etag -> $new_etag"
answer=$(call 412 PATCH "/v1/entries/$PATCH_ID" "${AS_CARRIER[@]}" "${json[@]}" -H "If-Match: $etag" \
  -d '{"remove_tags": ["fraud:ticket-scam"]}')
show "$answer" '{status, detail}'

# --- 7. expire, withdraw, revoke -------------------------------------------------------------

step "expire now with a reason: POST /v1/entries/{id}/expire (the number was recycled)"
answer=$(call 200 POST "/v1/entries/$EXPIRE_ID/expire" "${AS_CARRIER[@]}" "${json[@]}" -d '{"reason": "recycled"}')
check "$answer" '.status == "expired"' "expire"
show "$answer" '{id, value, status}'

step "withdraw the carrier's own report: POST /v1/entries/{id}/withdraw"
answer=$(call 200 POST "/v1/entries/$WITHDRAW_ID/withdraw" "${AS_CARRIER[@]}" "${json[@]}" -d '{"reason": "reported by mistake"}')
check "$answer" '.status == "expired"' "withdraw (the only report, so the entry leaves the list)"
show "$answer" '{id, value, status}'

step "a regulator revokes: POST /v1/entries/{id}/revoke (a carrier may not)"
call 403 POST "/v1/entries/$REVOKE_ID/revoke" "${AS_CARRIER[@]}" "${json[@]}" -d '{"reason": "not ours to revoke"}' >/dev/null
answer=$(call 200 POST "/v1/entries/$REVOKE_ID/revoke" "${AS_REGULATOR[@]}" "${json[@]}" -d '{"reason": "wrongly listed: a hospital line"}')
check "$answer" '.status == "revoked"' "revoke"
show "$answer" '{id, value, status}'
answer=$(call 409 POST /v1/entries "${AS_CARRIER[@]}" "${json[@]}" -d "{\"kind\": \"number\", \"value\": \"+86135$RUN\"}")
echo "the carrier cannot list it again: $(jq -r .detail <<<"$answer")"

# --- 8. organisations, a newcomer, disputes ---------------------------------------------------

step "a regulator registers an org and its API client: POST /v1/orgs, POST /v1/orgs/{id}/clients"
answer=$(call 201 POST /v1/orgs "${AS_REGULATOR[@]}" "${json[@]}" -d "{\"name\": \"Demo Marking App $RUN\", \"kind\": \"internet\"}")
APP_ORG=$(jq -r .id <<<"$answer")
show "$answer" '{id, name, kind, status}'
answer=$(call 201 POST "/v1/orgs/$APP_ORG/clients" "${AS_REGULATOR[@]}" "${json[@]}" -d '{"name": "demo"}')
APP_ID=$(jq -r .client_id <<<"$answer")
APP_SECRET=$(jq -r .client_secret <<<"$answer")
show "$answer" '{client_id, scope, client_secret: "(shown once)"}'
APP=$(token "$APP_ID" "$APP_SECRET")
AS_APP=(-H "Authorization: Bearer $APP")
answer=$(call 200 GET /v1/orgs "${AS_REGULATOR[@]}")
check "$answer" "any(.items[]; .id == $APP_ORG)" "the org list"
call 403 GET /v1/orgs "${AS_CARRIER[@]}" >/dev/null
echo "orgs: $(jq -c '[.items[] | {id, name, kind}]' <<<"$answer")"

step "a second org corroborates 10687415 (reporters counts distinct orgs)"
answer=$(call '200|201' POST /v1/entries "${AS_APP[@]}" "${json[@]}" -d '{"kind": "code", "value": "10687415", "reason": "users marked it as fraud"}')
check "$answer" '.reporters >= 2' "corroboration"
show "$answer" '{id, value, reporters}'

step "trust: one standard org's report labels, one trusted org's report blocks (tier and score on every match)"
answer=$(call 201 POST /v1/entries "${AS_APP[@]}" "${json[@]}" -d "{\"kind\": \"number\", \"value\": \"+86132$RUN\", \"reason\": \"users marked it as fraud\"}")
check "$answer" '.tier == "label" and .score < 100' "a marking app's report alone"
show "$answer" '{value, tier, score}'
answer=$(call 200 POST /v1/check "${AS_CARRIER[@]}" "${json[@]}" -d "{\"sender\": \"+86132$RUN\", \"text\": \"hello\"}")
check "$answer" '.verdict == "label" and .matches[0].tier == "label"' "the check of a label-tier sender"
echo "check: $(jq -c '{verdict, tier: .matches[0].tier}' <<<"$answer") (warn the user, do not block)"
answer=$(call 200 GET "/v1/lookup?value=%2B86132$RUN&min_tier=block" "${AS_CARRIER[@]}")
check "$answer" '.matches == []' "min_tier=block leaves label-tier entries out"
answer=$(call 200 POST /v1/entries "${AS_CARRIER[@]}" "${json[@]}" -d "{\"kind\": \"number\", \"value\": \"+86132$RUN\", \"reason\": \"fraud calls confirmed\"}")
check "$answer" '.tier == "block"' "a carrier's corroboration"
answer=$(call 200 POST /v1/check "${AS_CARRIER[@]}" "${json[@]}" -d "{\"sender\": \"+86132$RUN\", \"text\": \"hello\"}")
check "$answer" '.verdict == "block"' "the check once a carrier reported it"
echo "after the carrier's report: $(jq -c '{verdict, tier: .matches[0].tier, score: .matches[0].score}' <<<"$answer")"

step "disputes: the number's new owner disputes (POST /v1/entries/{id}/disputes), a regulator resolves"
answer=$(call 201 POST "/v1/entries/$DISPUTE_ID/disputes" "${AS_APP[@]}" "${json[@]}" \
  -d '{"reason": "this number was reassigned to our user last month"}')
DISPUTE=$(jq -r .id <<<"$answer")
check "$answer" '.status == "open"' "the new dispute"
show "$answer" '{id, entry_id, status}'
answer=$(call 200 GET "/v1/disputes?status=open&entry_id=$DISPUTE_ID" "${AS_REGULATOR[@]}")
check "$answer" "any(.items[]; .id == $DISPUTE)" "the open disputes"
answer=$(call 200 POST "/v1/disputes/$DISPUTE/resolve" "${AS_REGULATOR[@]}" "${json[@]}" \
  -d '{"resolution": "overturned", "note": "reassignment confirmed by the carrier"}')
check "$answer" '.status == "overturned"' "the resolution"
show "$answer" '{id, status, resolution_note}'
answer=$(call 200 GET "/v1/entries/$DISPUTE_ID" "${AS_CARRIER[@]}")
check "$answer" '.status == "revoked"' "the overturned entry"
echo "overturned: entry $DISPUTE_ID is $(jq -r .status <<<"$answer")"

step "suspend an org (the one this demo created): its tokens stop working at once"
call 200 POST "/v1/orgs/$APP_ORG/suspend" "${AS_REGULATOR[@]}" "${json[@]}" -d '{"reason": "demo"}' >/dev/null
call 401 GET '/v1/lookup?value=10687415' "${AS_APP[@]}" >/dev/null
echo "the suspended org's token: 401"
answer=$(call 200 POST "/v1/orgs/$APP_ORG/reinstate" "${AS_REGULATOR[@]}" "${json[@]}" -d '{"reason": "demo over"}')
check "$answer" '.status == "active"' "reinstatement"
APP=$(token "$APP_ID" "$APP_SECRET")
call 200 GET '/v1/lookup?value=10687415' -H "Authorization: Bearer $APP" >/dev/null
echo "reinstated: a new token works"

# --- 9. allowlist ----------------------------------------------------------------------------

step "allowlist (regulators): POST /v1/allowlist; publishing an allowlisted value is refused"
answer=$(call '201|409' POST /v1/allowlist "${AS_REGULATOR[@]}" "${json[@]}" \
  -d '{"kind": "code", "value": "95588", "reason": "ICBC official customer service"}')
show "$answer" 'if .status == 409 then {already: .detail} else {id, kind, value, reason} end'
answer=$(call 409 POST /v1/entries "${AS_CARRIER[@]}" "${json[@]}" -d '{"kind": "code", "value": "95588"}')
echo "the carrier publishing 95588: 409, $(jq -r .detail <<<"$answer")"
answer=$(call 200 GET /v1/allowlist "${AS_CARRIER[@]}")
check "$answer" 'any(.items[]; .value == "95588")' "the allowlist"
answer=$(call 201 POST /v1/allowlist "${AS_REGULATOR[@]}" "${json[@]}" -d "{\"kind\": \"code\", \"value\": \"96${RUN: -4}\", \"reason\": \"demo\"}")
call 204 DELETE "/v1/allowlist/$(jq -r .id <<<"$answer")" "${AS_REGULATOR[@]}" >/dev/null
echo "added and removed 96${RUN: -4} (DELETE /v1/allowlist/{id})"

# --- 9b. holdings: restriction follows the subject --------------------------------------------

step "holdings: a carrier records who holds a code (POST /v1/holdings); listing the holder restricts it"
CODE="1069${RUN: -4}"
answer=$(call 201 POST /v1/holdings "${AS_CARRIER[@]}" "${json[@]}" \
  -d "{\"resource\": {\"kind\": \"code\", \"value\": \"$CODE\"}, \"role\": \"holder\",
       \"subject\": {\"kind\": \"enterprise\", \"value\": \"91110000600037341L\"}}")
HOLDING_ID=$(jq -r .id <<<"$answer")
answer=$(call '201|200' POST /v1/entries "${AS_REGULATOR[@]}" "${json[@]}" \
  -d '{"kind": "enterprise", "value": "91110000600037341L", "reason": "sub-let its codes to a fraud ring",
       "tags": ["list:bad-operator"]}')
SUBJECT_ID=$(jq -r .id <<<"$answer")
answer=$(call 200 GET "/v1/lookup?kind=code&value=$CODE" "${AS_CARRIER[@]}")
check "$answer" ".listed and any(.matches[0].reports[]; .via == {subject_entry_id: $SUBJECT_ID, holding_id: $HOLDING_ID})" \
  "the held code, restricted via its listed holder"
echo "$CODE: listed via enterprise entry $SUBJECT_ID (holding $HOLDING_ID)"
answer=$(call 200 POST /v1/check "${AS_CARRIER[@]}" "${json[@]}" -d "{\"sender\": \"$CODE\", \"text\": \"hi\"}")
check "$answer" '.verdict == "block" and .sender_status == "restricted"' "the sender's status"
show "$answer" '{verdict, sender_status, sender_chain}'
answer=$(call 200 POST /v1/subjects/screen "${AS_CARRIER[@]}" "${json[@]}" \
  -d '{"kind": "enterprise", "value": "91110000600037341L"}')
check "$answer" '.restricted and (.listings | length) == 1' "screening the holder"
call 200 POST "/v1/holdings/$HOLDING_ID/end" "${AS_CARRIER[@]}" "${json[@]}" -d '{"reason": "allocation revoked"}' >/dev/null
answer=$(call 200 GET "/v1/lookup?kind=code&value=$CODE" "${AS_CARRIER[@]}")
check "$answer" '.listed == false' "the code once the holding ended"
echo "holding $HOLDING_ID ended: $CODE is no longer listed"

# --- 10. feeds -------------------------------------------------------------------------------

step "feeds: a snapshot (X-Blocklist-Cursor), the changes after it, the checksum"
call 200 GET '/v1/feed/snapshot?format=jsonl' "${AS_CARRIER[@]}" -H 'Accept-Encoding: gzip' --compressed >"$WORK/active.jsonl"
CURSOR=$(header X-Blocklist-Cursor)
[ -n "$CURSOR" ] || fail "the snapshot has no X-Blocklist-Cursor"
jq -se 'any(.[]; .value == "10687415")' "$WORK/active.jsonl" >/dev/null || fail "10687415 is not in the snapshot"
echo "snapshot: $(wc -l <"$WORK/active.jsonl") active entries, cursor $CURSOR"
codes=$(call 200 GET '/v1/feed/snapshot?format=csv&kind=code' "${AS_CARRIER[@]}")
head -3 <<<"$codes"
call '200|201' POST /v1/entries "${AS_CARRIER[@]}" "${json[@]}" -d "{\"kind\": \"number\", \"value\": \"+86133$RUN\"}" >/dev/null
answer=$(call 200 GET "/v1/feed/changes?since=$CURSOR&limit=100" "${AS_CARRIER[@]}")
check "$answer" "any(.changes[]; .op == \"upsert\" and .entry.value == \"+86133$RUN\")" "the changes after the snapshot"
show "$answer" '{changes: [.changes[] | {op, kind: .entry.kind, value: .entry.value}], has_more}'
answer=$(call 200 GET "/v1/feed/changes?since=$(jq -r .next_cursor <<<"$answer")&wait=1" "${AS_CARRIER[@]}")
check "$answer" '(.changes | length) == 0' "a long-poll with nothing new"
echo "long-poll (wait=1) with nothing new: no changes, same cursor"
answer=$(call 200 GET '/v1/feed/checksum' "${AS_CARRIER[@]}")
show "$answer"
# A consumer proves its copy equal: SHA-256 over its sorted "kind<TAB>value<LF>" lines.
call 200 GET '/v1/feed/snapshot?format=jsonl' "${AS_CARRIER[@]}" >"$WORK/now.jsonl"
if [ "$(header X-Blocklist-Cursor)" = "$(jq -r .cursor <<<"$answer")" ]; then
  mine=$(jq -r '"\(.kind)\t\(.value)"' "$WORK/now.jsonl" | LC_ALL=C sort | sha256sum | cut -d' ' -f1)
  [ "$mine" = "$(jq -r .sha256 <<<"$answer")" ] || fail "the checksum of the snapshot differs: $mine"
  echo "recomputed over the snapshot's rows: $mine (equal)"
fi

# --- 11. audit -------------------------------------------------------------------------------

step "audit trail (regulators): GET /v1/audit, /v1/audit/verify; the public key needs no token"
answer=$(call 200 GET '/v1/audit?limit=5' "${AS_REGULATOR[@]}")
check "$answer" '(.items | length) == 5' "the audit list"
show "$answer" '[.items[] | {seq, action, actor_org_name, target_type, target_id}]'
answer=$(call 200 GET "/v1/audit?target_type=entry&target_id=$REVOKE_ID" "${AS_REGULATOR[@]}")
check "$answer" 'any(.items[]; .action == "entry.revoke")' "the revoked entry's history"
echo "entry $REVOKE_ID: $(jq -c '[.items[] | .action]' <<<"$answer")"
call 403 GET /v1/audit "${AS_CARRIER[@]}" >/dev/null
answer=$(call 200 GET /v1/audit/verify "${AS_REGULATOR[@]}")
check "$answer" '.ok == true' "audit verification"
show "$answer"
answer=$(call 200 GET /v1/audit/public-key)
check "$answer" '.public_key | startswith("-----BEGIN PUBLIC KEY-----")' "the public key"
show "$answer" '{key_id, algorithm}'

# --- 12. the sync client ---------------------------------------------------------------------

step "blocklist-sync: a local mirror (snapshot, then changes), checked against the checksum"
# The secret comes from the environment, never the command line.
BLOCKLIST_CLIENT_SECRET="$CLIENT_SECRET" "$SYNC" --url "$URL" --client-id "$CLIENT_ID" --db "$WORK/mirror.sqlite"
answer=$("$SYNC" --db "$WORK/mirror.sqlite" lookup 10687415 --kind code)
check "$answer" '.listed == true' "the mirror's look-up"
show "$answer" '{value, listed}'

# --- 13. token revocation --------------------------------------------------------------------

step "revoke a token (RFC 7009): POST /oauth/revoke; it stops working at once"
call 200 POST /oauth/revoke -u "$CLIENT_ID:$CLIENT_SECRET" -d "token=$CARRIER" >/dev/null
call 401 GET '/v1/lookup?value=10687415' "${AS_CARRIER[@]}" >/dev/null
echo "revoked token: 401"

printf '\nDemo complete: every capability answered as expected.\n'
