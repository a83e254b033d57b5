#!/usr/bin/env bash
# The README's start command: venv, install, migrate the embedded SQLite database, create a demo
# regulator and carrier (once), write both clients' credentials to instance/demo.env (for
# `source`, and for scripts/demo.sh), print a ready curl for a token, then serve with gunicorn.
# BLOCKLIST_BIND (default 127.0.0.1:8000) sets the address; BLOCKLIST_INSTANCE_DIR (default
# instance) the directory for the script's files and, unless BLOCKLIST_DATABASE_URL is set, the
# SQLite database (tests/test_demo.py starts a second service this way).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'

instance="${BLOCKLIST_INSTANCE_DIR:-instance}"
mkdir -p "$instance"
if [ -n "${BLOCKLIST_INSTANCE_DIR:-}" ] && [ -z "${BLOCKLIST_DATABASE_URL:-}" ]; then
  export BLOCKLIST_DATABASE_URL="sqlite:///$(cd "$instance" && pwd)/blocklist.sqlite"
fi
if [ -z "${BLOCKLIST_SECRET_KEY:-}" ]; then
  [ -s "$instance/secret-key" ] || (umask 077; .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))' > "$instance/secret-key")
  export BLOCKLIST_SECRET_KEY="$(cat "$instance/secret-key")"
fi
# The subject pepper (person subjects are stored only as HMAC-SHA-256(pepper, id)): unless
# BLOCKLIST_SUBJECT_PEPPER names one, made once in the instance directory. Never printed.
if [ -z "${BLOCKLIST_SUBJECT_PEPPER:-}" ]; then
  export BLOCKLIST_SUBJECT_PEPPER="$(cd "$instance" && pwd)/subject-pepper"
  [ -s "$BLOCKLIST_SUBJECT_PEPPER" ] || (umask 077; .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))' > "$BLOCKLIST_SUBJECT_PEPPER")
fi
export BLOCKLIST_BIND="${BLOCKLIST_BIND:-127.0.0.1:8000}"
flask() { .venv/bin/flask --app wsgi "$@"; }

flask db upgrade
# The audit checkpoint-signing key (BLOCKLIST_AUDIT_SIGNING_KEY_FILE, default in the instance
# directory): made once.
export BLOCKLIST_AUDIT_SIGNING_KEY_FILE="${BLOCKLIST_AUDIT_SIGNING_KEY_FILE:-$(cd "$instance" && pwd)/audit-signing-key.pem}"
flask audit keygen --if-missing >/dev/null
creds="$instance/demo-credentials.json"
if [ ! -s "$creds" ]; then
  regulator=$(flask org create --name "Demo Regulator" --kind regulator)
  carrier=$(flask org create --name "Demo Carrier" --kind carrier)
  id_of() { .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
  regulator_client=$(flask client create --org "$(id_of <<<"$regulator")" --name demo)
  carrier_client=$(flask client create --org "$(id_of <<<"$carrier")" --name demo)
  (umask 077; printf '{"regulator": %s, "carrier": %s}\n' "$regulator_client" "$carrier_client" > "$creds")
fi

.venv/bin/python - "$creds" "$BLOCKLIST_BIND" "$instance/demo.env" <<'PY'
import json, os, shlex, sys
creds, bind, env_file = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
carrier, regulator = creds["carrier"], creds["regulator"]
url = f"http://{bind}"
values = {
    "BLOCKLIST_URL": url,
    "CLIENT_ID": carrier["client_id"],
    "CLIENT_SECRET": carrier["client_secret"],
    "CARRIER_ORG_ID": carrier["org_id"],
    "REGULATOR_ID": regulator["client_id"],
    "REGULATOR_SECRET": regulator["client_secret"],
    "REGULATOR_ORG_ID": regulator["org_id"],
}
fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as out:
    out.write("# Demo clients written by scripts/start.sh: `source` this file.\n")
    out.writelines(f"export {name}={shlex.quote(str(value))}\n" for name, value in values.items())
print("\nDemo clients (secrets kept in %s, shown here once per start):" % sys.argv[1])
for role, c in (("carrier", carrier), ("regulator", regulator)):
    print(f"  {role:9} org={c['org_id']}  client_id={c['client_id']}  scope={c['scope']!r}")
print(f"\nCredentials for scripts (CLIENT_ID/CLIENT_SECRET: the carrier; REGULATOR_ID/REGULATOR_SECRET):\n")
print(f"  source {env_file}")
print(f"\nGet a token as the demo carrier, then run the worked example of every capability:\n")
print(f"  curl -s -u \"$CLIENT_ID:$CLIENT_SECRET\" -d grant_type=client_credentials {url}/oauth/token")
print(f"  bash scripts/demo.sh\n")
print(f"Docs: {url}/docs   Health: {url}/readyz\n", flush=True)
PY
exec .venv/bin/gunicorn -c deploy/gunicorn.conf.py wsgi:app
