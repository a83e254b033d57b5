"""End to end on a real gunicorn: the token flow over the network."""

from __future__ import annotations

import requests


def test_token_flow_on_live_gunicorn(live_server, auth):
    creds = auth.org("carrier")
    token = requests.post(
        live_server.url + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(creds.client_id, creds.client_secret),
        timeout=10,
    )
    assert token.status_code == 200
    headers = {"Authorization": "Bearer " + token.json()["access_token"]}
    listed = requests.get(live_server.url + "/v1/entries", headers=headers, timeout=10)
    assert listed.status_code == 200
    assert listed.json() == {"items": [], "next_cursor": None}
    assert listed.headers["X-Request-Id"]
