#!/usr/bin/env bash
# The first hour with callplane, top to bottom: the README's walkthrough is this file.
#   export CALLPLANE_URL=http://127.0.0.1:8000 CALLPLANE_API_KEY=ak_...   # what `make run` printed
#   bash docs/quickstart.sh
# Needs bash, curl and python3 (for JSON; no jq). Every name and number carries this run's
# suffix, so it runs again on the same server. The test suite runs it against a fresh server.
set -euo pipefail
: "${CALLPLANE_URL:=http://127.0.0.1:8000}"
: "${CALLPLANE_API_KEY:?export the ak_ key that make run (or callplane bootstrap) printed}"
export CALLPLANE_URL CALLPLANE_API_KEY                           # the callplane CLI reads them
WEBSITE=${EXAMPLE_WEBSITE:-https://example.com}                  # what step 6 crawls
RUN=$(date +%s)                                                  # this run's suffix

# api METHOD PATH [BODY [CURL_ARGS...]]: one call; prints the answer, or the error and fails
api() {
  local answer
  answer=$(curl -sS -X "$1" "$CALLPLANE_URL$2" -w '\n%{http_code}' "${@:4}" \
    -H "Authorization: Bearer $CALLPLANE_API_KEY" -H "Content-Type: application/json" \
    ${3:+-d "$3"}) || return
  local body=${answer%$'\n'*} status=${answer##*$'\n'}
  if ((status >= 400)); then
    echo "$1 $2 → $status $body" >&2
    return 1
  fi
  [ -z "$body" ] || printf '%s\n' "$body"
}

# field PATH: one value of the JSON on stdin (PATH like id or data.0.id)
field() {
  python3 -c 'import json, sys
text = sys.stdin.read()
if not text:
    sys.exit(1)  # the call before failed, and said why
value = json.loads(text)
for key in sys.argv[1].split("."):
    value = value[int(key)] if isinstance(value, list) else value[key]
print(value if isinstance(value, str) else json.dumps(value))' "$1"
}

# finish WORKFLOW_ID: waits for a background run; prints its result, fails unless it succeeded
finish() {
  local run status
  for _ in $(seq 600); do
    run=$(api GET "/core/workflows/$1") || return
    status=$(field status <<<"$run") || return
    case $status in
      succeeded) field result <<<"$run"; return ;;
      failed | cancelled) echo "workflow $1 $status: $run" >&2; return 1 ;;
    esac
    sleep 0.5
  done
  echo "workflow $1 is still $status" >&2
  return 1
}

## 1. An agent
AGENT_JSON=$(api POST /core/agents \
  "{\"name\": \"Front desk $RUN\", \"description\": \"Answers the main line\", \"metadata\": {\"team\": \"support\"}}")
AGENT=$(field id <<<"$AGENT_JSON")
echo "agent $AGENT"
# list, with filters: name (substring, case-insensitive), active, is_demo, metadata (a JSON object)
api GET "/core/agents?name=desk%20$RUN&active=true&metadata=%7B%22team%22%3A%22support%22%7D&limit=20" | field data.0.name
# one agent in full: versions, phone_numbers, widgets, sip_endpoint, conversation_stats, live_version
api GET "/core/agents/$AGENT" | field live_version               # null: nothing published yet
# partial update; If-Match (the etag you read) makes a concurrent change a 412, not a lost write
api PUT "/core/agents/$AGENT" '{"description": "Answers the Acme Dental main line"}' \
  -H "If-Match: $(field etag <<<"$AGENT_JSON")" | field etag

## 2. Versions: drafts you edit, then publish
V1=$(api POST "/core/agents/$AGENT/versions" \
  '{"config": {"instructions": "You are the front desk of Acme Dental. Book cleanings."}}' | field version)
api GET "/core/agents/$AGENT/versions/latest" | field version    # the newest draft: $V1
# update a draft; `config` replaces the whole config, so send all of it
api PUT "/core/agents/$AGENT/versions/$V1" \
  '{"config": {"instructions": "You are the front desk of Acme Dental. Book cleanings and check-ups.", "starting_message": "Acme Dental, how can I help?"}}' \
  | field instructions_manually_edited                           # true: a person wrote them
# a draft from builder inputs alone: its instructions are "dirty" (not yet generated from them)
V2=$(api POST "/core/agents/$AGENT/versions" \
  '{"config": {}, "instruction_builder_inputs": {"company_name": "Acme Dental", "purpose": "Book appointments", "opening_line": "Acme Dental, good morning!"}}' \
  | field version)
api GET "/core/agents/$AGENT/versions/$V2" | field instructions_dirty  # true
# so publishing it is refused (409 instructions_stale) until they are generated (step 5)
api POST "/core/agents/$AGENT/versions/$V2/publish" || echo "refused, as expected"

## 3. Publish, with phone numbers
NUMBER_BODY=$((2000000 + RUN % 8000000))                         # 7 digits from the run
MAIN=+1415$NUMBER_BODY SALES=+1628$NUMBER_BODY
for number in "$MAIN" "$SALES"; do                               # numbers the organization owns
  api POST /core/phone-numbers "{\"phone_number\": \"$number\", \"label\": \"Line $RUN\"}" >/dev/null
done
# publish: the version becomes live and takes the numbers' slots, per direction (one transaction)
api POST "/core/agents/$AGENT/versions/$V1/publish" \
  "{\"phone_numbers\": [\"$MAIN\"], \"direction\": \"inbound\"}" | field 0.inbound_version
api POST "/core/agents/$AGENT/versions/$V1/publish" \
  "{\"phone_numbers\": [\"$SALES\"], \"direction\": \"both\"}" | field 0.outbound_version
api GET "/core/phone-numbers?assigned=true&agent_id=$AGENT" | field data.0.phone_number
api PATCH "/core/phone-numbers/$SALES" '{"label": "Sales line"}' | field label
V1_ID=$(api GET "/core/agents/$AGENT/versions/$V1" | field id)

## 4. SIP and a web widget
api POST "/core/agents/$AGENT/deploy-as-sip" | field sip_uri     # 409 before a publish
WIDGET=$(api POST /core/web-widgets \
  "{\"agent_id\": \"$AGENT\", \"agent_version_id\": \"$V1_ID\", \"domains\": [\"acme.test\", \"*.acme.test\"], \"published\": true}" \
  | field id)
api GET "/core/web-widgets?agent_id=$AGENT" | field data.0.domains
# what an embedding page fetches: no credential; CORS only for the widget's domains
curl -sS --fail -H 'Origin: https://www.acme.test' "$CALLPLANE_URL/core/public/web-widgets/$WIDGET"
echo
api PATCH "/core/web-widgets/$WIDGET" '{"domains": ["acme.test", "*.acme.test", "localhost:3000"]}' \
  | field domains

## 5. Generate the instructions from the builder inputs (a background workflow), then publish
WORKFLOW=$(api POST "/core/agents/$AGENT/versions/$V2/generate-instructions" | field workflow_id)
finish "$WORKFLOW"                                               # {"applied": true, ...}
api GET "/core/agents/$AGENT/versions/$V2" | field config.starting_message
# compare before publishing: structured, and as a text summary (streamed: use curl -N to watch)
api GET "/core/agents/$AGENT/versions/diff?from=$V1&to=$V2" | field changes.0.path
api POST "/core/agents/$AGENT/versions/compare" "{\"from_version\": $V1, \"to_version\": $V2}"
# publishing version 2 moves both numbers' slots to it
api POST "/core/agents/$AGENT/versions/$V2/publish" "{\"phone_numbers\": [\"$MAIN\"]}" >/dev/null
api POST "/core/agents/$AGENT/versions/$V2/publish" \
  "{\"phone_numbers\": [\"$SALES\"], \"direction\": \"both\"}" >/dev/null
api GET "/core/agents/$AGENT" | field live_version               # $V2
# a draft you no longer need (deleting a published version is refused: 409)
SCRATCH=$(api POST "/core/agents/$AGENT/versions" "{\"base_version\": $V2}" | field version)
api DELETE "/core/agents/$AGENT/versions/$SCRATCH"

## 6. Agents built from a website: crawl, knowledge, instructions, publish, SIP, widget
WORKFLOW=$(api POST /core/agents/create-from-website \
  "{\"company_name\": \"Website $RUN\", \"company_website\": \"$WEBSITE\", \"voice_id\": \"verse\"}" \
  | field workflow_id)
RESULT=$(finish "$WORKFLOW")
api GET "/core/agents/$(field agent_id <<<"$RESULT")" | field name
api GET "/core/knowledge-collections/$(field collection_id <<<"$RESULT")" | field source_url
api GET "/core/workflows?type=create_from_website&status=succeeded&limit=5" | field data.0.workflow_id
# a demo agent, answering a free number of the organization
DEMO_NUMBER=+1510$NUMBER_BODY
api POST /core/phone-numbers "{\"phone_number\": \"$DEMO_NUMBER\", \"label\": \"Demo $RUN\"}" >/dev/null
WORKFLOW=$(api POST /core/agents/create-demo \
  "{\"company_website\": \"$WEBSITE\", \"include_phone_number\": true}" | field workflow_id)
DEMO_AGENT=$(finish "$WORKFLOW" | field agent_id)
api GET "/core/phone-numbers?agent_id=$DEMO_AGENT" | field data.0.phone_number

## 7. Conversations: import history (all or nothing, up to 500 per call), then read it
CONVERSATION=$(api POST /core/conversations/import "{\"conversations\": [
  {\"agent_id\": \"$AGENT\", \"channel\": \"telephone\", \"direction\": \"inbound\", \"status\": \"completed\",
   \"duration_seconds\": 93, \"started_at\": \"2026-11-01T10:00:00Z\",
   \"transcript\": [{\"role\": \"user\", \"content\": \"Hi, I need a cleaning\"}], \"summary\": \"Booked a cleaning\"}]}" \
  | field ids.0)
api GET "/core/conversations?agent_id=$AGENT&status=completed" | field data.0.summary
api GET "/core/conversations/$CONVERSATION" | field sensitive_included
api GET "/core/agents/$AGENT" | field conversation_stats.total

## 8. Agents as code: a YAML file, planned and applied (docs/agents-as-code.md)
CALLPLANE=$(command -v callplane || echo .venv/bin/callplane)
WORKDIR=$(mktemp -d)
trap 'rm -rf "$WORKDIR"' EXIT
BILLING=+1650$NUMBER_BODY
api POST /core/phone-numbers "{\"phone_number\": \"$BILLING\", \"label\": \"Billing $RUN\"}" >/dev/null
cat >"$WORKDIR/agents.yaml" <<YAML
apiVersion: callplane/v1
agents:
  - name: Billing $RUN
    description: Answers billing questions
    config:
      instructions: You answer billing questions for Acme Dental.
    phone_numbers:
      inbound: ["$BILLING"]
    sip: true
YAML
"$CALLPLANE" plan -f "$WORKDIR/agents.yaml" || [ $? -eq 10 ]     # exit 10: changes pending
"$CALLPLANE" apply -f "$WORKDIR/agents.yaml"
"$CALLPLANE" plan -f "$WORKDIR/agents.yaml"                      # exit 0: nothing to change
"$CALLPLANE" export "$AGENT" -o "$WORKDIR/front-desk.yaml"       # an existing agent, as a file
head -n 4 "$WORKDIR/front-desk.yaml"

## 9. The rest of the surface
api GET /core/agent-config-schema | field title
api POST /core/agent-config/validate '{"instructions": "Hi", "max_tool_steps": 500}' | field errors
api GET /admin/members/me/scopes | field 0
api GET "/core/audit-events?resource_id=$AGENT&limit=5" | field data.0.action
KEY_ID=$(api POST /admin/organization-pats \
  "{\"name\": \"ci $RUN\", \"scopes\": [\"agents:read\"], \"expires_at\": 1893456000000}" \
  | field key_id)                                                # its pat_key is shown once
api DELETE "/admin/organization-pats/$KEY_ID"
WEBHOOK=$(api POST /core/webhooks \
  '{"url": "https://ci.example.com/hooks", "events": ["agent.version.published"]}' | field id)
api DELETE "/core/webhooks/$WEBHOOK"                             # (nothing listens there)
api DELETE "/core/agents/$DEMO_AGENT"                            # its number's slot is emptied

## 10. Talk to it: a live conversation, streamed (docs/conversations.md)
CHAT=$(api POST "/core/agents/$AGENT/conversations" '{"channel": "telephone"}' | field id)
api POST "/core/conversations/$CHAT/messages" '{"content": "Can I book a cleaning?"}' -N
api POST "/core/conversations/$CHAT/end" | field ended_reason    # ended_by_user
"$CALLPLANE" chat "$AGENT" --message "When are you open?"        # the same, from the CLI
# what a voice runtime asks on each call: the version that answers, its telephone config
api GET "/core/routing/resolve?phone_number=%2B${MAIN#+}&direction=inbound" | field version.version

## 11. Roll back: version 2 misbehaves, so version 1 goes live again on every number it held
api POST "/core/agents/$AGENT/rollback" "{\"to_version\": $V1}"
api GET "/core/phone-numbers/$MAIN" | field inbound_version      # $V1
echo "done: agent $AGENT"
