"""The token, revocation and introspection endpoints as the RFCs define their errors.

* RFC 6749 §3.2 (https://www.rfc-editor.org/rfc/rfc6749#section-3.2): "Request and response
  parameters MUST NOT be included more than once." §5.2: `invalid_request` is for a request
  that "is missing a required parameter, ... repeats a parameter, includes multiple credentials,
  utilizes more than one mechanism for authenticating the client, or is otherwise malformed";
  `unsupported_grant_type` only for a grant type the server does not support.
* RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each request."
* RFC 7009 §2.1 (https://www.rfc-editor.org/rfc/rfc7009#section-2.1): `token_type_hint` is a
  hint; "If the server is unable to locate the token using the given hint, it MUST extend its
  search across all of its supported token types", so an unknown hint is ignored;
  `unsupported_token_type` (§2.2.1) is for a token of a type the server cannot revoke.
* RFC 7662 §2.1 (https://www.rfc-editor.org/rfc/rfc7662#section-2.1): the same for
  introspection's `token_type_hint`.
"""

from __future__ import annotations

import pytest
from support.problems import assert_problem


def _basic(creds):
    return (creds.client_id, creds.client_secret)


def _error(response, status=400):
    body = assert_problem(response, status)
    assert body["detail"]  # RFC 6749 `error_description`, also the problem's detail
    return body["error"]


def test_a_token_request_without_grant_type_is_invalid_request(client, auth):
    creds = auth.org("carrier")
    assert _error(client.post("/oauth/token", data={}, auth=_basic(creds))) == "invalid_request"
    assert _error(client.post("/oauth/token", data={"scope": "entries:read"}, auth=_basic(creds))) == "invalid_request"


def test_an_unknown_grant_type_is_still_unsupported_grant_type(client, auth):
    creds = auth.org("carrier")
    response = client.post("/oauth/token", data={"grant_type": "password"}, auth=_basic(creds))
    assert _error(response) == "unsupported_grant_type"


@pytest.mark.parametrize(
    "path, form",
    [
        ("/oauth/token", "grant_type=client_credentials&grant_type=client_credentials"),
        ("/oauth/token", "grant_type=client_credentials&scope=entries:read&scope=entries:write"),
        ("/oauth/revoke", "token={token}&token={token}"),
        ("/oauth/introspect", "token={token}&token_type_hint=access_token&token_type_hint=access_token"),
    ],
)
def test_a_repeated_parameter_is_invalid_request(client, auth, path, form):
    creds = auth.org("carrier")
    token = auth.token(creds)
    response = client.post(
        path,
        data=form.format(token=token),
        content_type="application/x-www-form-urlencoded",
        auth=_basic(creds),
    )
    assert _error(response) == "invalid_request"
    # nothing was done: the token still works
    assert client.get("/v1/entries", headers={"Authorization": "Bearer " + token}).status_code == 200


def test_a_repeated_client_id_in_the_body_is_invalid_request(client, auth):
    creds = auth.org("carrier")
    form = (
        f"grant_type=client_credentials&client_id={creds.client_id}&client_id={creds.client_id}"
        f"&client_secret={creds.client_secret}"
    )
    response = client.post("/oauth/token", data=form, content_type="application/x-www-form-urlencoded")
    assert _error(response) == "invalid_request"


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
def test_basic_and_a_secret_in_the_body_at_once_is_invalid_request(client, auth, path):
    creds = auth.org("carrier")
    token = auth.token(creds)
    form = {"grant_type": "client_credentials", "token": token}
    response = client.post(
        path, data={**form, "client_id": creds.client_id, "client_secret": creds.client_secret}, auth=_basic(creds)
    )
    assert _error(response) == "invalid_request"
    assert client.get("/v1/entries", headers={"Authorization": "Bearer " + token}).status_code == 200
    # either method alone is fine
    assert client.post(path, data=form, auth=_basic(creds)).status_code == 200
    form["token"] = auth.token(creds)
    alone = client.post(path, data={**form, "client_id": creds.client_id, "client_secret": creds.client_secret})
    assert alone.status_code == 200


@pytest.mark.parametrize("hint", ["refresh_token", "id_token", "nonsense", ""])
def test_an_unknown_token_type_hint_is_ignored_on_revoke(client, auth, hint):
    creds = auth.org("internet")
    token = auth.token(creds)
    response = client.post("/oauth/revoke", data={"token": token, "token_type_hint": hint}, auth=_basic(creds))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert_problem(client.get("/v1/entries", headers={"Authorization": "Bearer " + token}), 401)


@pytest.mark.parametrize("hint", ["refresh_token", "id_token", "nonsense", ""])
def test_an_unknown_token_type_hint_is_ignored_on_introspect(client, auth, hint):
    creds = auth.org("internet")
    token = auth.token(creds)
    response = client.post("/oauth/introspect", data={"token": token, "token_type_hint": hint}, auth=_basic(creds))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["active"] is True and response.json["client_id"] == creds.client_id


@pytest.mark.parametrize("path", ["/oauth/revoke", "/oauth/introspect"])
def test_a_missing_token_is_invalid_request(client, auth, path):
    creds = auth.org("carrier")
    assert _error(client.post(path, data={"token_type_hint": "access_token"}, auth=_basic(creds))) == "invalid_request"


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
def test_a_repeated_parameter_with_a_hostile_name_gets_an_ascii_description(client, auth, path):
    """error_description is printable ASCII without '"' or '\\' (RFC 6749 5.2); a repeated
    parameter named in other characters once made Authlib raise (a 500, found by Schemathesis)."""
    creds = auth.org("carrier")
    form = "%C2%BE%F4%8A%A2%AD=1&%C2%BE%F4%8A%A2%AD=2&x%22y=1&x%22y=2"
    response = client.post(path, data=form, content_type="application/x-www-form-urlencoded", auth=_basic(creds))
    assert _error(response) == "invalid_request"
    description = response.json["error_description"]
    assert description.isascii() and '"' not in description and "\\" not in description
