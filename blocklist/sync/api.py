"""The feed endpoints as the sync client uses them: a client-credentials token (refreshed on
401), the snapshot stream, pages of changes and the checksum. stdlib + requests only."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

USER_AGENT = "blocklist-sync/1"


class FeedError(Exception):
    """The server answered with an error (or not at all)."""


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


def _retry_after(response: requests.Response, most: float) -> float:
    """Seconds to wait before retrying a 429: its `Retry-After` (seconds), 1 if absent or not a
    number, never more than `most`."""
    try:
        return min(max(float(response.headers.get("Retry-After", "1")), 0.1), most)
    except ValueError:
        return 1.0


class FeedClient:
    def __init__(self, url: str, client_id: str, client_secret: str, timeout: float = 60):
        self.url = url.rstrip("/")
        self.auth = (client_id, client_secret)
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.token: str | None = None
        self.busy_retries = 0  # 429s waited out so far

    def _fetch_token(self) -> None:
        try:
            response = self.session.post(
                self.url + "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=self.auth,
                timeout=self.timeout,
            )
        except requests.RequestException as error:
            raise FeedError(f"cannot get a token: {error}") from error
        if response.status_code != 200:
            raise FeedError(f"cannot get a token: {_problem(response)}")
        self.token = response.json()["access_token"]

    # 429 (rate limit, or the server's long-poll limits): wait as told, this many times at most.
    MAX_BUSY_RETRIES = 30
    MAX_RETRY_AFTER = 60.0

    def _get(
        self, path: str, params: dict[str, Any], *, stream: bool = False, timeout: float | None = None
    ) -> requests.Response:
        """GET with the bearer token, fetching a new one once on 401 and waiting out 429s
        (`Retry-After`); raises on other errors."""
        renewed, busy = False, 0
        while True:
            if self.token is None:
                self._fetch_token()
            try:
                response = self.session.get(
                    self.url + path,
                    params=params,
                    stream=stream,
                    headers={"Authorization": f"Bearer {self.token}"},
                    timeout=timeout or self.timeout,
                )
            except requests.RequestException as error:
                raise FeedError(f"{path}: {error}") from error
            if response.status_code == 401 and not renewed:
                self.token, renewed = None, True
                continue
            if response.status_code == 429 and busy < self.MAX_BUSY_RETRIES:
                busy += 1
                self.busy_retries += 1
                time.sleep(_retry_after(response, self.MAX_RETRY_AFTER))
                continue
            if response.status_code == 410:
                raise CursorGone(_problem(response))
            if response.status_code != 200:
                raise FeedError(f"{path}: {_problem(response)}")
            return response

    def snapshot(self, kind: str | None) -> Snapshot:
        params = {"format": "jsonl", **({"kind": kind} if kind else {})}
        response = self._get("/v1/feed/snapshot", params, stream=True)  # gzip, decoded by requests

        def rows() -> Iterator[dict[str, Any]]:
            with response:
                try:
                    for line in response.iter_lines(chunk_size=256 * 1024):
                        if line:
                            yield json.loads(line)
                except requests.RequestException as error:
                    raise FeedError(f"snapshot interrupted: {error}") from error

        return Snapshot(response.headers["X-Blocklist-Cursor"], rows())

    def changes(self, since: str | None, kind: str | None, wait: int = 0, limit: int = 5000) -> dict[str, Any]:
        params = {"since": since, "limit": limit, "wait": wait, **({"kind": kind} if kind else {})}
        return self._get("/v1/feed/changes", params, timeout=self.timeout + wait).json()

    def checksum(self, kind: str | None) -> dict[str, Any]:
        return self._get("/v1/feed/checksum", {"kind": kind} if kind else {}).json()
