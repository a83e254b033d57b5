"""The feed endpoints as the sync client uses them: a client-credentials token (renewed before it
expires and on 401), the snapshot stream, pages of changes and the checksum.

Every failure is one of three kinds, so the caller knows what to do with it:
`Unavailable` (no answer, a cut-off body, a 5xx: the server is restarting or its database is
down; try again later), `CursorGone` (410: load a new snapshot) and any other `FeedError`
(a refusal that trying again will not change: bad credentials, a missing scope)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

USER_AGENT = "blocklist-sync/2"
log = logging.getLogger("blocklist.sync")

# Answers that say "not now" rather than "no": a proxy with no upstream, a restarting node, a
# database outage (503 with Retry-After), an error the server logged.
TRANSIENT_STATUS = frozenset({500, 502, 503, 504})
# Network failures, including a body cut off mid-stream (a restart during a snapshot).
TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class FeedError(Exception):
    """The server refused (a 4xx other than 401/410/429); trying again will not help."""


class Unavailable(FeedError):
    """No usable answer now: a network error, a cut-off body or a 5xx; `retry_after` is the
    server's `Retry-After` in seconds, if it sent one."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class NotFoundError(FeedError):
    """404: the server has no such thing (e.g. no signed tree head yet)."""


class CursorGone(FeedError):
    """410: the cursor is older than the retained change log; load a new snapshot."""


@dataclass
class Snapshot:
    cursor: str
    rows: Iterator[dict[str, Any]]


def _problem(response: requests.Response) -> str:
    try:
        body = response.json()
        return f"{response.status_code} {body.get('title', '')}: {body.get('detail', '')}"
    except ValueError:
        return f"{response.status_code} {response.reason}"


def _retry_after(response: requests.Response) -> float | None:
    """The `Retry-After` header in seconds (delta-seconds form only), or None."""
    try:
        return max(float(response.headers["Retry-After"]), 0.0)
    except (KeyError, ValueError):
        return None


def _unavailable(what: str, response: requests.Response) -> Unavailable:
    return Unavailable(f"{what}: {_problem(response)}", _retry_after(response))


class FeedClient:
    # 429 (rate limit, or the server's long-poll limits): wait as told, this many times at most.
    MAX_BUSY_RETRIES = 30
    MAX_RETRY_AFTER = 60.0
    # Renew a token this many seconds before the server says it expires.
    TOKEN_MARGIN = 30.0

    def __init__(self, url: str, client_id: str, client_secret: str, timeout: float = 60, min_tier: str | None = None):
        self.url = url.rstrip("/")
        # Mirror only entries of this tier or above (snapshot, changes and checksum alike).
        self.min_tier = min_tier
        self.auth = (client_id, client_secret)
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.token: str | None = None
        self.token_renew_at = 0.0  # time.monotonic() after which the token is renewed first
        self.busy_retries = 0  # 429s waited out so far

    def _fetch_token(self) -> None:
        """A new access token; `Unavailable` when the server cannot answer, `FeedError` when it
        refuses the credentials."""
        try:
            response = self.session.post(
                self.url + "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=self.auth,
                timeout=self.timeout,
            )
        except TRANSIENT_ERRORS as error:
            raise Unavailable(f"cannot get a token: {error}") from error
        except requests.RequestException as error:
            raise FeedError(f"cannot get a token: {error}") from error
        if response.status_code in TRANSIENT_STATUS or response.status_code == 429:
            raise _unavailable("cannot get a token", response)
        if response.status_code != 200:
            raise FeedError(f"cannot get a token: {_problem(response)}")
        body = response.json()
        self.token = body["access_token"]
        expires_in = float(body.get("expires_in") or 0)
        renew_in = max(expires_in - self.TOKEN_MARGIN, expires_in / 2)
        self.token_renew_at = time.monotonic() + renew_in if expires_in else 0.0
        log.debug("new access token (expires in %s s)", body.get("expires_in"))

    def _get(
        self, path: str, params: dict[str, Any], *, stream: bool = False, timeout: float | None = None
    ) -> requests.Response:
        """GET with the bearer token: a new token before the old one expires and once on 401,
        429s waited out (`Retry-After`); raises `Unavailable`, `CursorGone` or `FeedError`."""
        renewed, busy = False, 0
        while True:
            if self.token is None or (self.token_renew_at and time.monotonic() >= self.token_renew_at):
                self._fetch_token()
            try:
                response = self.session.get(
                    self.url + path,
                    params=params,
                    stream=stream,
                    headers={"Authorization": f"Bearer {self.token}"},
                    timeout=timeout or self.timeout,
                )
            except TRANSIENT_ERRORS as error:
                raise Unavailable(f"{path}: {error}") from error
            except requests.RequestException as error:
                raise FeedError(f"{path}: {error}") from error
            if response.status_code == 401 and not renewed:
                log.info("%s: the access token was refused (expired or revoked); getting a new one", path)
                self.token, renewed = None, True
                continue
            if response.status_code == 429 and busy < self.MAX_BUSY_RETRIES:
                busy += 1
                self.busy_retries += 1
                wait = min(max(_retry_after(response) or 1.0, 0.1), self.MAX_RETRY_AFTER)
                log.debug("%s: 429, waiting %.1f s as told", path, wait)
                time.sleep(wait)
                continue
            if response.status_code == 410:
                raise CursorGone(_problem(response))
            if response.status_code == 404:
                raise NotFoundError(f"{path}: {_problem(response)}")
            if response.status_code in TRANSIENT_STATUS:
                raise _unavailable(path, response)
            if response.status_code != 200:
                raise FeedError(f"{path}: {_problem(response)}")
            return response

    def snapshot(self, kind: str | None) -> Snapshot:
        """The snapshot's cursor and its rows, streamed; reading the rows raises `Unavailable`
        when the body is cut off."""
        params = {"format": "jsonl", **self._scope(kind)}
        response = self._get("/v1/feed/snapshot", params, stream=True)  # gzip, decoded by requests

        def rows() -> Iterator[dict[str, Any]]:
            with response:
                try:
                    for line in response.iter_lines(chunk_size=256 * 1024):
                        if line:
                            yield json.loads(line)
                except (*TRANSIENT_ERRORS, requests.exceptions.ContentDecodingError) as error:
                    raise Unavailable(f"snapshot interrupted: {error}") from error
                except requests.RequestException as error:
                    raise FeedError(f"snapshot interrupted: {error}") from error

        return Snapshot(response.headers["X-Blocklist-Cursor"], rows())

    def changes(self, since: str | None, kind: str | None, wait: int = 0, limit: int = 5000) -> dict[str, Any]:
        params = {"since": since, "limit": limit, "wait": wait, **self._scope(kind)}
        return self._get("/v1/feed/changes", params, timeout=self.timeout + wait).json()

    def checksum(self, kind: str | None) -> dict[str, Any]:
        return self._get("/v1/feed/checksum", self._scope(kind)).json()

    def _scope(self, kind: str | None) -> dict[str, str]:
        return {**({"kind": kind} if kind else {}), **({"min_tier": self.min_tier} if self.min_tier else {})}

    def latest_tree_head(self) -> dict[str, Any] | None:
        """The audit log's latest signed tree head, or None when the server has signed none."""
        try:
            return self._get("/v1/audit/tree-heads/latest", {}).json()
        except NotFoundError:
            return None

    def consistency(self, first: int, second: int) -> list[str]:
        return self._get("/v1/audit/consistency", {"first": first, "second": second}).json()["proof"]

    def audit_public_key(self) -> str:
        """The PEM of the key that signs tree heads (public, no token needed)."""
        try:
            response = self.session.get(self.url + "/v1/audit/public-key", timeout=self.timeout)
        except TRANSIENT_ERRORS as error:
            raise Unavailable(f"/v1/audit/public-key: {error}") from error
        except requests.RequestException as error:
            raise FeedError(f"/v1/audit/public-key: {error}") from error
        if response.status_code in TRANSIENT_STATUS:
            raise _unavailable("/v1/audit/public-key", response)
        if response.status_code != 200:
            raise FeedError(f"/v1/audit/public-key: {_problem(response)}")
        return response.json()["public_key"]
