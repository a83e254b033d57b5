"""Long-polls are bounded per client and per worker, so they never take the threads short
requests need (issue #12, item 6). Driven over the network against gunicorn with the production
settings file (deploy/gunicorn.conf.py), 1 gthread worker of 4 threads: half of them (2) may
hold waiting long-polls, 2 per client."""

from __future__ import annotations

import logging
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

import pytest
import requests
from conftest import TEST_CONFIG, threaded_server

from blocklist import create_app
from blocklist.feeds import longpoll

LONG_WAIT = 30  # the polls return when a change is published, long before this
BOUND = 20  # seconds any single step below may take before the test gives up


@pytest.fixture
def server(app, database_url):
    # The settings file exports the thread count gunicorn really uses (--threads 4) to the app,
    # which sizes its per-worker bound from it.
    server = threaded_server(database_url, threads=4, production_settings=True)
    yield server
    server.stop()


def _head(server, headers) -> str:
    response = requests.get(server.url + "/v1/feed/changes", headers=headers, timeout=BOUND)
    assert response.status_code == 200, response.text
    return response.json()["next_cursor"]


def _poll(server, headers, cursor, seconds=LONG_WAIT) -> requests.Response:
    return requests.get(
        server.url + "/v1/feed/changes",
        params={"since": cursor, "wait": seconds},
        headers=headers,
        timeout=seconds + BOUND,
    )


def _assert_429(response: requests.Response) -> str:
    """A 429 problem+json with Retry-After; returns its detail."""
    assert response.status_code == 429, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    # The long-poll bounds' own short wait, not the rate-limit window's reset (up to a minute).
    assert response.headers["Retry-After"] == str(longpoll.RETRY_AFTER_SECONDS)
    body = response.json()
    assert body["status"] == 429 and body["title"]
    return body["detail"]


def test_one_client_beyond_its_bound_gets_429_at_once_while_its_others_wait(server, auth, publish):
    headers = server.bearer(auth.org("carrier"))
    cursor = _head(server, headers)
    with ThreadPoolExecutor(3) as pool:
        polls = [pool.submit(_poll, server, headers, cursor) for _ in range(3)]
        done, waiting = wait(polls, timeout=BOUND, return_when=FIRST_COMPLETED)
        assert len(done) == 1, "the third long-poll of one client must be refused at once"
        assert "This client already has 2 long-polls waiting" in _assert_429(done.pop().result())
        assert len(waiting) == 2
        publish("code", "10687415")  # wakes the two that wait
        for future in waiting:
            response = future.result(timeout=BOUND)
            assert response.status_code == 200
            assert [c["entry"]["value"] for c in response.json()["changes"]] == ["10687415"]
    # The slots were given back: the client may wait again.
    again = _poll(server, headers, _head(server, headers), seconds=1)
    assert again.status_code == 200 and again.json()["changes"] == []


def test_with_the_worker_bound_full_look_ups_and_health_checks_still_answer(server, auth, publish):
    pollers = [server.bearer(auth.org("carrier")) for _ in range(4)]  # 4 clients: no per-client bound
    reader = server.bearer(auth.org("internet"))
    cursor = _head(server, pollers[0])
    with ThreadPoolExecutor(4) as pool:
        # As many long-polls as the worker has threads: without a bound they would take them all.
        polls = [pool.submit(_poll, server, headers, cursor) for headers in pollers]
        refused: list[requests.Response] = []
        pending = set(polls)
        while len(refused) < 2:
            done, pending = wait(pending, timeout=BOUND, return_when=FIRST_COMPLETED)
            assert done, "two long-polls beyond the worker's bound must be refused at once"
            refused += [future.result() for future in done]
        assert len(refused) == 2 and len(pending) == 2
        for response in refused:
            assert "already holds 2 waiting long-polls" in _assert_429(response)

        lookup = requests.get(
            server.url + "/v1/lookup", params={"value": "10687415", "kind": "code"}, headers=reader, timeout=BOUND
        )
        health = requests.get(server.url + "/healthz", timeout=BOUND)
        assert lookup.status_code == 200 and lookup.json()["listed"] is False
        assert health.status_code == 200
        # Answered while the two long-polls still hold their threads.
        assert not any(future.done() for future in pending)

        publish("code", "10687415")
        for future in pending:
            response = future.result(timeout=BOUND)
            assert response.status_code == 200 and len(response.json()["changes"]) == 1


def _app_with(tmp_path, **config):
    return create_app({**TEST_CONFIG, "database_url": f"sqlite:///{tmp_path}/unused.sqlite", **config})


@pytest.mark.parametrize(
    ("config", "per_worker"),
    [
        ({"threads": 8}, 4),  # default: half the threads
        ({"threads": 4, "longpoll_per_worker": 10}, 2),  # clamped: 2 threads stay free
        ({"threads": 16, "longpoll_per_worker": 16, "longpoll_free_threads": 0}, 15),  # at least 1 stays free
        ({"threads": 1}, 0),  # a sync worker: no long-poll may wait
    ],
)
def test_per_worker_bound_leaves_free_threads_whatever_the_settings(tmp_path, config, per_worker):
    assert _app_with(tmp_path, **config).extensions[longpoll.EXTENSION].per_worker == per_worker


def test_bound_is_read_from_the_environment_and_a_clamp_is_logged(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("BLOCKLIST_THREADS", "6")
    monkeypatch.setenv("BLOCKLIST_LONGPOLL_PER_WORKER", "6")
    monkeypatch.setenv("BLOCKLIST_LONGPOLL_PER_CLIENT", "1")
    with caplog.at_level(logging.WARNING, logger="blocklist.feeds.longpoll"):
        app = _app_with(tmp_path)
    assert (app.extensions[longpoll.EXTENSION].per_worker, app.extensions[longpoll.EXTENSION].per_client) == (4, 1)
    assert "BLOCKLIST_LONGPOLL_PER_WORKER=6 clamped to 4" in caplog.text


def test_followers_woken_together_share_one_read_and_each_gets_its_own_kind(app, database_url, auth):
    """Long-polls at the same position asking the same question are answered by one feed read
    per worker (`longpoll.SharedReads`); a follower filtering another kind gets its own answer."""
    server = threaded_server(database_url, threads=8, production_settings=True)  # 4 may wait
    try:
        codes, numbers = server.bearer(auth.org("carrier")), server.bearer(auth.org("internet"))
        cursor = _head(server, codes)

        def poll(headers, kind):
            return requests.get(
                server.url + "/v1/feed/changes",
                params={"since": cursor, "wait": LONG_WAIT, "kind": kind},
                headers=headers,
                timeout=LONG_WAIT + BOUND,
            )

        with ThreadPoolExecutor(4) as pool:
            polls = [pool.submit(poll, codes, "code") for _ in range(2)]
            polls += [pool.submit(poll, numbers, "number") for _ in range(2)]
            done, _ = wait(polls, timeout=1)
            assert not done, "all four wait for a change"
            published = requests.post(
                server.url + "/v1/entries/bulk",
                json={"items": [{"kind": "code", "value": "10687415"}, {"kind": "number", "value": "+8613812345678"}]},
                headers=codes,
                timeout=BOUND,
            )
            assert published.status_code == 200, published.text
            answers = [future.result(timeout=BOUND) for future in polls]
        assert all(answer.status_code == 200 for answer in answers)
        seen = [[c["entry"]["value"] for c in answer.json()["changes"]] for answer in answers]
        assert seen == [["10687415"], ["10687415"], ["+8613812345678"], ["+8613812345678"]]
    finally:
        server.stop()


def test_shared_reads_run_one_read_for_concurrent_askers_and_keep_nothing():
    import threading
    import time

    shared, calls, release = longpoll.SharedReads(), [], threading.Event()

    def slow_read():
        calls.append(1)
        release.wait(BOUND)
        return {"changes": ["x"]}

    asking = []

    def ask():
        asking.append(1)
        return shared.read(("head", None), slow_read)

    with ThreadPoolExecutor(8) as pool:
        answers = [pool.submit(ask) for _ in range(8)]
        deadline = time.monotonic() + BOUND
        while len(asking) < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # all eight are asking while the first read runs
        release.set()
        results = [future.result(timeout=BOUND) for future in answers]
    assert len(calls) == 1 and all(result is results[0] for result in results)
    shared.read(("head", None), slow_read)  # asked again after it finished: read again
    assert len(calls) == 2

    def failing():
        raise RuntimeError("database gone")

    with pytest.raises(RuntimeError):
        shared.read(("head", None), failing)
    assert shared.read(("head", None), lambda: "fresh") == "fresh"  # a failure is not kept
