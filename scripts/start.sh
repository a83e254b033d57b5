#!/usr/bin/env bash
# The README's start command: venv, install, migrate the embedded SQLite database, create a demo
# regulator and carrier (once), print a ready curl for a token, then serve with gunicorn.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'

mkdir -p instance
if [ -z "${BLOCKLIST_SECRET_KEY:-}" ]; then
  [ -s instance/secret-key ] || (umask 077; .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))' > instance/secret-key)
  export BLOCKLIST_SECRET_KEY="$(cat instance/secret-key)"
fi
export BLOCKLIST_BIND="${BLOCKLIST_BIND:-127.0.0.1:8000}"
flask() { .venv/bin/flask --app wsgi "$@"; }

flask db upgrade
# The audit checkpoint-signing key (BLOCKLIST_AUDIT_SIGNING_KEY_FILE, default instance/): made once.
flask audit keygen --if-missing >/dev/null
creds=instance/demo-credentials.json
if [ ! -s "$creds" ]; then
  regulator=$(flask org create --name "Demo Regulator" --kind regulator)
  carrier=$(flask org create --name "Demo Carrier" --kind carrier)
  id_of() { .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
  regulator_client=$(flask client create --org "$(id_of <<<"$regulator")" --name demo)
  carrier_client=$(flask client create --org "$(id_of <<<"$carrier")" --name demo)
  (umask 077; printf '{"regulator": %s, "carrier": %s}\n' "$regulator_client" "$carrier_client" > "$creds")
fi

.venv/bin/python - "$creds" "$BLOCKLIST_BIND" <<'PY'
import json, sys
creds, bind = json.load(open(sys.argv[1])), sys.argv[2]
print("\nDemo clients (secrets are kept in instance/demo-credentials.json):")
for role, c in creds.items():
    print(f"  {role:9} client_id={c['client_id']}  scope={c['scope']!r}")
c = creds["carrier"]
print("\nGet a token as the demo carrier:\n")
print(f"  curl -s -u '{c['client_id']}:{c['client_secret']}' -d grant_type=client_credentials http://{bind}/oauth/token\n")
print(f"Docs: http://{bind}/docs   Health: http://{bind}/readyz\n")
PY
exec .venv/bin/gunicorn -c deploy/gunicorn.conf.py wsgi:app
