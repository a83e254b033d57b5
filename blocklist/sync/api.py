"""The feed endpoints as the sync client uses them: a client-credentials token (refreshed on
401), the snapshot stream, pages of changes and the checksum. stdlib + requests only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator

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


class FeedClient:
    def __init__(self, url: str, client_id: str, client_secret: str, timeout: float = 60):
        self.url = url.rstrip("/")
        self.auth = (client_id, client_secret)
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.token: str | None = None

    def _fetch_token(self) -> None:
        try:
            response = self.session.post(self.url + "/oauth/token", data={"grant_type": "client_credentials"},
                                         auth=self.auth, timeout=self.timeout)
        except requests.RequestException as error:
            raise FeedError(f"cannot get a token: {error}") from error
        if response.status_code != 200:
            raise FeedError(f"cannot get a token: {_problem(response)}")
        self.token = response.json()["access_token"]

    def _get(self, path: str, params: dict[str, Any], *, stream: bool = False,
             timeout: float | None = None) -> requests.Response:
        """GET with the bearer token, fetching a new one once on 401; raises on other errors."""
        for attempt in (1, 2):
            if self.token is None:
                self._fetch_token()
            try:
                response = self.session.get(self.url + path, params=params, stream=stream,
                                            headers={"Authorization": f"Bearer {self.token}"},
                                            timeout=timeout or self.timeout)
            except requests.RequestException as error:
                raise FeedError(f"{path}: {error}") from error
            if response.status_code == 401 and attempt == 1:
                self.token = None
                continue
            if response.status_code == 410:
                raise CursorGone(_problem(response))
            if response.status_code != 200:
                raise FeedError(f"{path}: {_problem(response)}")
            return response
        raise AssertionError("unreachable")

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

    def changes(self, since: str, kind: str | None, wait: int = 0, limit: int = 5000) -> dict[str, Any]:
        params = {"since": since, "limit": limit, "wait": wait, **({"kind": kind} if kind else {})}
        return self._get("/v1/feed/changes", params, timeout=self.timeout + wait).json()

    def checksum(self, kind: str | None) -> dict[str, Any]:
        return self._get("/v1/feed/checksum", {"kind": kind} if kind else {}).json()
