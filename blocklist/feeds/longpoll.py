"""Bounds on waiting long-polls, so followers can never take the threads short requests need.

A waiting `GET /v1/feed/changes?wait=N` holds one gunicorn thread (not a database connection)
for up to N seconds. Each worker process therefore lets at most `LONGPOLL_PER_WORKER` requests
wait at once, and one API client at most `LONGPOLL_PER_CLIENT` of them; a request beyond either
bound is answered at once with 429 problem+json and `Retry-After` instead of waiting. A request
takes a slot only when there is nothing to return yet: a follower that is behind always gets its
changes.

The relation between the settings, enforced at start-up:

    LONGPOLL_PER_WORKER <= THREADS - LONGPOLL_FREE_THREADS     (LONGPOLL_FREE_THREADS >= 1)

so at least `LONGPOLL_FREE_THREADS` threads of every worker are always left to short requests
(look-ups, checks, health checks) whatever the pollers do. `THREADS` is the worker's thread
count (`BLOCKLIST_THREADS`; `deploy/gunicorn.conf.py` exports the count gunicorn really uses).
Unset, `LONGPOLL_PER_WORKER` is half the threads; a larger value is clamped with a warning.

The counts are per process: across a node a client may hold `LONGPOLL_PER_CLIENT x workers`.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app

from ..config import settings_of
from ..context import current_actor
from ..errors import abort
from ..metrics import LONGPOLL_WAITING

EXTENSION = "blocklist_longpoll"
RETRY_AFTER_SECONDS = 2
log = logging.getLogger(__name__)


def worker_cap(threads: int, free_threads: int, requested: int | None) -> int:
    """Waiting long-polls one worker may hold: `requested` (default: half the threads), never
    more than leaves `free_threads` (at least 1) threads for short requests, never negative."""
    ceiling = max(0, threads - max(1, free_threads))
    wanted = threads // 2 if requested is None else requested
    return max(0, min(wanted, ceiling))


class LongPollSlots:
    """This process's count of waiting long-polls, in total and per API client."""

    def __init__(self, per_worker: int, per_client: int):
        self.per_worker = per_worker
        self.per_client = per_client
        self.waiting = 0
        self.by_client: Counter[str] = Counter()
        self._lock = threading.Lock()

    def try_acquire(self, client: str) -> str | None:
        """Take a slot for `client`; None when taken, else why not ("client" or "worker")."""
        with self._lock:
            if self.by_client[client] >= self.per_client:
                return "client"
            if self.waiting >= self.per_worker:
                return "worker"
            self.waiting += 1
            self.by_client[client] += 1
            return None

    def release(self, client: str) -> None:
        with self._lock:
            self.waiting -= 1
            self.by_client[client] -= 1
            if not self.by_client[client]:
                del self.by_client[client]


@contextmanager
def slot() -> Iterator[None]:
    """Hold a long-poll slot for the authenticated client while the block runs.

    Raises a 429 (problem+json, `Retry-After`) at once when the client or this worker already
    holds as many waiting long-polls as allowed.
    """
    slots: LongPollSlots = current_app.extensions[EXTENSION]
    client = current_actor().client_id or "unknown"
    refused = slots.try_acquire(client)
    if refused == "client":
        abort(
            429,
            f"This client already has {slots.per_client} long-polls waiting on this server process; "
            "wait for one to return (or poll with wait=0).",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if refused == "worker":
        abort(
            429,
            f"This server process already holds {slots.per_worker} waiting long-polls, its share "
            "of threads for them; retry after the number of seconds in Retry-After.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    LONGPOLL_WAITING.inc()
    try:
        yield
    finally:
        LONGPOLL_WAITING.dec()
        slots.release(client)


class SharedReads:
    """One read for every waiting long-poll a notification wakes with the same question.

    A publish wakes every long-poll of the worker at once, and followers at the head all ask
    for the changes after the same position: the first to ask runs the read, the others wait
    for its answer (a list of plain dicts, never changed after). A question asked after that
    read finished is read again: nothing is kept. A read that fails fails only its own request;
    the waiters then read for themselves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[Hashable, Future] = {}

    def read(self, key: Hashable, read: Callable[[], Any]) -> Any:
        with self._lock:
            running = self._running.get(key)
            if running is None:
                mine: Future = Future()
                self._running[key] = mine
        if running is not None:
            try:
                return running.result()
            except Exception:
                return read()
        try:
            answer = read()
        except BaseException as error:
            mine.set_exception(error)
            raise
        else:
            mine.set_result(answer)
            return answer
        finally:
            with self._lock:
                del self._running[key]


SHARED_READS = SharedReads()  # per worker process, shared by its threads


def init_app(app: Flask) -> None:
    """Size this app's long-poll bounds from its settings, clamping them as documented above."""
    settings = settings_of(app)
    threads, free = settings.threads, settings.longpoll_free_threads
    requested = settings.longpoll_per_worker
    per_worker = worker_cap(threads, free, requested)
    if requested is not None and per_worker != requested:
        log.warning(
            "BLOCKLIST_LONGPOLL_PER_WORKER=%s clamped to %s: with %s threads per worker, "
            "%s are kept free for short requests (BLOCKLIST_LONGPOLL_FREE_THREADS)",
            requested,
            per_worker,
            threads,
            max(1, free),
        )
    if per_worker == 0:
        log.warning(
            "no long-polls can wait (%s threads per worker, %s kept free): every wait=N "
            "with nothing new is answered 429; raise BLOCKLIST_THREADS",
            threads,
            max(1, free),
        )
    per_client = max(1, settings.longpoll_per_client)
    app.extensions[EXTENSION] = LongPollSlots(per_worker, per_client)
