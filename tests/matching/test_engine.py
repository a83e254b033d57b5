"""The keyword engine: build, incremental changes, the delta automaton and its rebuild, expiry
at match time, catching up from the real database's change log, and readers on several threads
while changes are applied. (URLs and domains are matched by a database probe: test_check.)"""

from __future__ import annotations

import datetime as dt
import threading

from blocklist.db import db
from blocklist.matching.engine import MatchingEngine, get_engine
from blocklist.values.folding import fold

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def _kw(entry_id, word, expires=None):
    return (entry_id, "keyword", fold(word), expires)


def _ids(engine, text, now=None):
    return sorted({h.entry_id for h in engine.keyword_hits(fold(text), now)})


def test_load_and_keyword_hits_with_folded_spans():
    engine = MatchingEngine()
    engine.load(
        [
            _kw(1, "安全账户"),
            _kw(2, "win prize"),
            (3, "url", "http://evil.com/a", None),
            (4, "domain", "evil.org", None),
        ],
        position=7,
    )  # other kinds are not held
    assert engine.position == 7
    hits = list(engine.keyword_hits(fold("请转入 安全賬戶 and WIN PRIZE")))
    assert [(h.entry_id, h.value, h.span) for h in hits] == [(1, "安全账户", (3, 7)), (2, "winprize", (10, 18))]
    assert engine.stats()["keyword"] == 2 and len(engine.active) == 2


def test_expiry_is_checked_at_match_time():
    engine = MatchingEngine()
    soon = dt.datetime(2030, 1, 1, 0, 0, 10, tzinfo=dt.UTC)
    engine.load([_kw(1, "安全账户", soon)], position=1)
    before, after = NOW.timestamp(), soon.timestamp()
    assert _ids(engine, "安全账户", before) == [1]
    assert _ids(engine, "安全账户", after) == []


def test_changes_go_to_the_delta_until_the_main_automaton_is_rebuilt():
    engine = MatchingEngine(rebuild_after=3)
    engine.load([_kw(1, "安全账户"), _kw(2, "公检法")], position=2)
    assert engine.rebuilds == 1
    engine.apply(
        [(3, "keyword", fold("刷单返利"), "active", None), (1, "keyword", fold("安全账户"), "expired", None)],
        position=4,
    )
    assert engine.rebuilds == 1  # one added, one dropped: below the threshold
    assert _ids(engine, "安全账户 公检法 刷单返利") == [2, 3]
    engine.apply([(1, "keyword", fold("安全账户"), "active", None)], position=5)  # re-listed
    assert _ids(engine, "安全账户 公检法 刷单返利") == [1, 2, 3]
    engine.apply([(i, "keyword", f"关键词{i}", "active", None) for i in range(10, 14)], position=9)
    assert engine.rebuilds == 2 and engine.stats()["delta_keywords"] == 0
    assert _ids(engine, "安全账户 公检法 刷单返利 关键词12") == [1, 2, 3, 12]
    assert engine.position == 9


def test_apply_ignores_other_kinds():
    engine = MatchingEngine()
    engine.load([], position=0)
    engine.apply(
        [
            (1, "url", "http://bit.ly/x1", "active", None),
            (2, "domain", "evil.com", "active", None),
            (3, "keyword", fold("刷单"), "active", None),
        ],
        position=3,
    )
    assert engine.active == {3: (fold("刷单"), None)} and engine.position == 3


def test_refresh_builds_from_the_database_then_follows_the_change_log(app, publish, client, callers):
    engine = MatchingEngine()
    first = publish("keyword", "安全账户").json["id"]
    publish("number", "13812345678")  # numbers are not held by the engine
    with app.app_context():
        engine.refresh(db.session)
        assert engine.position == 2 and engine.rebuilds == 1
        assert engine.stats()["keyword"] == 1
    second = publish("keyword", "公检法").json["id"]
    client.post(f"/v1/entries/{first}/withdraw", json={}, headers=callers["carrier"])
    with app.app_context():
        engine.refresh(db.session)
        assert engine.position == 4 and engine.rebuilds == 1  # applied, not rebuilt
        assert _ids(engine, "安全账户 公检法") == [second]


def test_head_moving_backwards_rebuilds(app, publish):
    engine = MatchingEngine()
    engine.load([_kw(99, "旧关键词")], position=50)  # as if the database had been reset since
    entry_id = publish("keyword", "新关键词").json["id"]
    with app.app_context():
        engine.refresh(db.session)
    assert engine.position == 1
    assert _ids(engine, "旧关键词 新关键词") == [entry_id]


def test_readers_on_several_threads_while_changes_are_applied():
    engine = MatchingEngine(rebuild_after=50)
    engine.load([_kw(1, "安全账户")], position=1)
    errors: list[BaseException] = []
    stop = threading.Event()

    def read():
        try:
            while not stop.is_set():
                assert 1 in _ids(engine, "请转入安全账户")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for t in readers:
        t.start()
    for n in range(2, 400):
        engine.apply(
            [
                (n, "keyword", f"词{n}号", "active", None),
                (n - 7, "keyword", f"词{n - 7}号", "expired", None)
                if n > 8 and n % 2
                else (0, "keyword", "x", "expired", None),
            ],
            position=n,
        )
    stop.set()
    for t in readers:
        t.join()
    assert errors == []
    assert engine.rebuilds > 1
    # each odd n removed n - 7: even keywords up to 392 are gone, odd ones and 394..398 stay
    assert _ids(engine, "安全账户 词390号 词391号 词392号 词394号 词399号") == [1, 391, 394, 399]
    assert engine.position == 399


def test_get_engine_is_one_per_app(app):
    assert get_engine(app) is get_engine(app)
