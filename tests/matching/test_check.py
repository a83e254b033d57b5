"""POST /v1/check over HTTP against the real app and database: keywords through every evasion
form with spans into the original text, links and domains, the sender as number, code and under
a covering range, the allowlist, entries leaving the active set, validation and auth."""

from __future__ import annotations

import datetime as dt

import pytest
from support.problems import assert_problem
from support.sql import sql_log

from blocklist.config import settings_of
from blocklist.matching.engine import get_engine


@pytest.fixture(autouse=True)
def fresh_engine(app):
    """The suite empties the database between tests (the feed head goes back to 0); a real
    database never does, so the test process's engine is reset by hand."""
    get_engine(app).reset()
    yield
    get_engine(app).reset()


@pytest.fixture
def check(client, callers):
    """check(text, sender=None, as_="consumer") -> response"""

    def _check(text, sender=None, as_="consumer", **extra):
        body = {"text": text, **extra}
        if sender is not None:
            body["sender"] = sender
        return client.post("/v1/check", json=body, headers=callers[as_])

    return _check


def _listed(publish, kind, value, as_="carrier", **fields) -> int:
    response = publish(kind, value, as_=as_, **fields)
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    return response.json["id"]


TRUST_FIELDS = ("tier", "score", "category", "dispute_path")


def _bare(matches):
    """The matches without their trust fields (tests/matching/test_check_trust.py checks those)."""
    return [{k: v for k, v in m.items() if k not in TRUST_FIELDS} for m in matches]


def _spans(response, kind=None):
    assert response.status_code == 200, response.get_data(as_text=True)
    return [
        (m["kind"], m["field"], tuple(m["span"])) for m in response.json["matches"] if kind is None or m["kind"] == kind
    ]


def test_clean_message_is_allowed(check, publish):
    _listed(publish, "keyword", "安全账户")
    response = check("您的快递已到，请凭取件码 1234 领取。", sender="10690000")
    assert response.status_code == 200
    assert response.json == {"verdict": "allow", "matches": [], "sender_status": "unregistered", "sender_chain": []}


@pytest.mark.parametrize(
    "text, span",
    [
        ("请转入安全账户。", (3, 7)),  # plain
        ("请转入安 全 账 户。", (3, 10)),  # spaces
        ("请转入安\u3000全\u3000账\u3000户", (3, 10)),  # ideographic spaces
        ("请转入安\u200b全\u200b账\u200b户!", (3, 10)),  # zero-width spaces
        ("请转入安\n全\r\n账\n户", (3, 11)),  # line breaks
        ("请转入安.全-账*户", (3, 10)),  # punctuation between characters
        ("请转入安全賬戶", (3, 7)),  # traditional characters
    ],
)
def test_keyword_evasion_forms_match_with_spans_into_the_original(check, publish, text, span):
    entry_id = _listed(publish, "keyword", "安全账户")
    response = check(text)
    assert response.json["verdict"] == "block"
    assert _bare(response.json["matches"]) == [
        {"kind": "keyword", "entry_id": entry_id, "value": "安全账户", "field": "text", "span": list(span)}
    ]
    assert text[span[0]] == "安" and text[span[1] - 1] in "户戶"


@pytest.mark.parametrize(
    "text, span",
    [
        ("Your ＷＩＮ ＰＲＩＺＥ awaits", (5, 14)),  # full-width
        ("you WiN-pRiZe now", (4, 13)),  # case and a dash
        ("w i n p r i z e", (0, 15)),
    ],
)
def test_latin_keyword_forms(check, publish, text, span):
    _listed(publish, "keyword", "win prize")
    assert _spans(check(text)) == [("keyword", "text", span)]


def test_every_occurrence_and_every_keyword_is_reported(check, publish):
    a = _listed(publish, "keyword", "安全账户")
    b = _listed(publish, "keyword", "公检法")
    text = "公检法通知：转入安全账户，再转入安全 账户"
    matches = check(text).json["matches"]
    assert [(m["entry_id"], m["span"]) for m in matches] == [(b, [0, 3]), (a, [8, 12]), (a, [16, 21])]
    for m in matches:
        assert text[m["span"][0] : m["span"][1]].replace(" ", "") in ("公检法", "安全账户")


@pytest.mark.parametrize(
    "text, link",
    [
        ("点击 http://evil-pay.com/login?id=1 领奖", "http://evil-pay.com/login?id=1"),
        ("点击www.evil-pay.com/login领奖", "www.evil-pay.com/login"),
        ("请访问evil-pay。com／login", "evil-pay。com／login"),
    ],
)
def test_url_forms_match(check, publish, text, link):
    entry_id = _listed(publish, "url", "evil-pay.com/login")
    matches = check(text).json["matches"]
    start = text.index(link)
    assert _bare(matches) == [
        {
            "kind": "url",
            "entry_id": entry_id,
            "value": "http://evil-pay.com/login",
            "field": "text",
            "span": [start, start + len(link)],
        }
    ]


def test_url_entry_ending_in_a_slash_matches_the_paths_below_it(check, publish):
    entry_id = _listed(publish, "url", "evil-pay.com/login/")
    text = "HTTPS://EVIL-PAY.COM/login/more/deep?x=1"
    assert [(m["entry_id"], m["span"]) for m in check(text).json["matches"]] == [(entry_id, [0, len(text)])]
    # Safe Browsing expressions: "/login/" covers "/login/..." but not "/login" or "/loginx/"
    assert check("evil-pay.com/loginx/more").json["verdict"] == "allow"
    assert check("evil-pay.com/other/login/").json["verdict"] == "allow"


def test_short_link_and_a_different_path_do_not_cross(check, publish):
    _listed(publish, "url", "bit.ly/x1")
    assert _spans(check("戳这里bit.ly/x1领红包")) == [("url", "text", (3, 12))]
    assert _spans(check("戳这里bit.ly/x2领红包")) == []


def test_domain_matches_subdomains_not_look_alikes(check, publish):
    entry_id = _listed(publish, "domain", "evil.com")
    for text in ["看 https://evil.com/a", "看 http://pay.login.evil.com/x", "看 m.evil.com 吧"]:
        matches = check(text).json["matches"]
        assert [(m["kind"], m["entry_id"]) for m in matches] == [("domain", entry_id)], text
    for text in ["看 https://notevil.com/a", "看 evil.com.cn/x", "看 http://evil.co/ 吧", "evil.company.org"]:
        assert check(text).json == {"verdict": "allow", "matches": [], "sender_status": None, "sender_chain": None}, (
            text
        )


def test_urls_differing_only_by_scheme_all_match_until_each_leaves(check, publish, client, callers):
    ids = [_listed(publish, "url", u) for u in ("http://evil.com/a", "https://evil.com/a")]
    assert sorted(m["entry_id"] for m in check("看 https://evil.com:8443/a?x=1").json["matches"]) == sorted(ids)
    assert client.post(f"/v1/entries/{ids[1]}/withdraw", json={}, headers=callers["carrier"]).status_code == 200
    assert sorted(m["entry_id"] for m in check("看 http://evil.com/a").json["matches"]) == [ids[0]]


def test_a_url_published_with_a_port_is_the_entry_without_it(publish):
    """Safe Browsing drops the port ("http://www.gotaport.com:1234/" -> "http://www.gotaport.com/",
    developers.google.com/safe-browsing/v4/urls-hashing): one entry, corroborated, not two."""
    first = _listed(publish, "url", "http://www.gotaport.com:1234/")
    assert _listed(publish, "url", "http://www.gotaport.com/") == first


def test_every_link_in_a_message_is_checked_in_one_query(check, publish, app):
    """Sender, links and domains are one UNION ALL probe, however many links the text has."""

    first = _listed(publish, "url", "bit.ly/x1")
    second = _listed(publish, "domain", "evil.com")
    check("warm-up")  # builds the keyword engine
    with sql_log(app) as log:
        text = " ".join(f"https://site{i}.com/p{i}" for i in range(20)) + " bit.ly/x1 a.evil.com/x"
        response = check(text, sender="13812345678")
    statements = [statement for statement, _ in log if "FROM entries" in statement]
    assert sorted(m["entry_id"] for m in response.json["matches"]) == [first, second]
    assert len(statements) == 1, statements


@pytest.mark.parametrize("sender", ["+86 138 1234 5678", "13812345678", "008613812345678", "8613812345678"])
def test_sender_as_number(check, publish, sender):
    entry_id = _listed(publish, "number", "13812345678")
    response = check("你好", sender=sender)
    assert {**response.json, "matches": _bare(response.json["matches"])} == {
        "verdict": "block",
        "matches": [
            {
                "kind": "number",
                "entry_id": entry_id,
                "value": "+8613812345678",
                "field": "sender",
                "span": [0, len(sender)],
            }
        ],
        # A subscriber number is nobody's code: sender status does not apply.
        "sender_status": None,
        "sender_chain": None,
    }


def test_sender_as_code_and_under_a_covering_range(check, publish):
    code = _listed(publish, "code", "10687415")
    rng = _listed(publish, "range", "952750xx")
    assert [(m["kind"], m["entry_id"]) for m in check("hi", sender="10687415").json["matches"]] == [("code", code)]
    assert [(m["kind"], m["entry_id"]) for m in check("hi", sender="95275012").json["matches"]] == [("range", rng)]
    assert check("hi", sender="952750123").json["verdict"] == "allow"  # one digit too many
    assert check("hi", sender="95275").json["verdict"] == "allow"


def test_sender_and_text_together(check, publish):
    number = _listed(publish, "number", "13812345678")
    keyword = _listed(publish, "keyword", "安全账户")
    response = check("转入安全账户", sender="13812345678")
    assert [(m["field"], m["entry_id"]) for m in response.json["matches"]] == [("sender", number), ("text", keyword)]


def test_allowlisted_sender_is_never_matched_even_under_a_range(check, publish, client, callers):
    _listed(publish, "range", "9558x")
    assert check("hi", sender="95581").json["verdict"] == "block"
    response = client.post(
        "/v1/allowlist", json={"kind": "code", "value": "95581", "reason": "bank"}, headers=callers["regulator"]
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert check("hi", sender="95581").json == {
        "verdict": "allow",
        "matches": [],
        "sender_status": "unregistered",
        "sender_chain": [],
    }
    assert check("hi", sender="95582").json["verdict"] == "block"


def _allowlist(client, callers, kind, value):
    response = client.post(
        "/v1/allowlist", json={"kind": kind, "value": value, "reason": "bank"}, headers=callers["regulator"]
    )
    assert response.status_code == 201, response.get_data(as_text=True)


def test_an_allowlisted_sender_is_not_blocked_for_its_keywords(check, publish, client, callers):
    """PRODUCT.md, allowlisted senders: a bank's real verification-code SMS says 验证码. Its
    keyword matches are left out (as everything the allowlist protects is), not flagged."""
    _listed(publish, "keyword", "验证码")
    _allowlist(client, callers, "code", "95588")
    text = "【工商银行】您的验证码为 381920，5 分钟内有效。"
    assert check(text, sender="95588").json == {
        "verdict": "allow",
        "matches": [],
        "sender_status": "unregistered",
        "sender_chain": [],
    }
    # The same words from anyone else still block.
    other = check(text, sender="95599").json
    assert other["verdict"] == "block"
    assert [(m["kind"], m["value"]) for m in other["matches"]] == [("keyword", "验证码")]
    assert check(text).json["verdict"] == "block"


def test_an_allowlisted_sender_is_still_blocked_for_a_listed_link(check, publish, client, callers):
    _listed(publish, "keyword", "验证码")
    url = _listed(publish, "url", "http://icbc-verify.example.com/login")
    domain = _listed(publish, "domain", "evil.cn")
    _allowlist(client, callers, "code", "95588")
    response = check("验证码已过期，请登录 icbc-verify.example.com/login 或 m.evil.cn 重新验证", sender="95588")
    assert response.json["verdict"] == "block"
    assert [(m["kind"], m["entry_id"]) for m in response.json["matches"]] == [("url", url), ("domain", domain)]


def test_link_on_an_allowlisted_domain_does_not_match(check, publish, client, callers):
    _listed(publish, "url", "http://bank.example.com/promo")
    _listed(publish, "domain", "evil.com")
    response = client.post(
        "/v1/allowlist", json={"kind": "domain", "value": "example.com", "reason": "bank"}, headers=callers["regulator"]
    )
    assert response.status_code == 201
    assert check("see http://bank.example.com/promo/x").json["verdict"] == "allow"
    assert check("see http://evil.com/promo").json["verdict"] == "block"


def test_withdrawn_revoked_and_expired_entries_stop_matching(check, publish, client, callers):
    withdrawn = _listed(publish, "keyword", "刷单返利")
    revoked = _listed(publish, "url", "scam.example.org/pay")
    expired = _listed(publish, "domain", "phish.cn")
    text = "刷单返利 scam.example.org/pay phish.cn/x"
    assert {m["entry_id"] for m in check(text).json["matches"]} == {withdrawn, revoked, expired}

    assert client.post(f"/v1/entries/{withdrawn}/withdraw", json={}, headers=callers["carrier"]).status_code == 200
    assert (
        client.post(f"/v1/entries/{revoked}/revoke", json={"reason": "wrong"}, headers=callers["regulator"]).status_code
        == 200
    )
    assert (
        client.post(
            f"/v1/entries/{expired}/expire", json={"reason": "recycled"}, headers=callers["carrier"]
        ).status_code
        == 200
    )
    assert check(text).json == {"verdict": "allow", "matches": [], "sender_status": None, "sender_chain": None}


def test_an_entry_stops_matching_when_its_expires_at_passes(check, publish, clock):
    """No change reaches the feed when expires_at passes (the sweeper comes later): every hit's
    expiry is checked at request time."""
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    for kind, value in (
        ("keyword", "限时返利"),
        ("domain", "flash-sale.cn"),
        ("url", "promo-deal.com/deal"),
        ("number", "13900001111"),
    ):
        _listed(publish, kind, value, expires_at=expires.isoformat())
    text, sender = "限时返利活动 http://m.flash-sale.cn/ promo-deal.com/deal", "13900001111"
    assert {m["kind"] for m in check(text, sender=sender).json["matches"]} == {"keyword", "domain", "url", "number"}
    clock.advance(601)
    assert check(text, sender=sender).json == {
        "verdict": "allow",
        "matches": [],
        "sender_status": None,
        "sender_chain": None,
    }


def test_a_sender_that_is_not_a_number_or_code_matches_nothing_and_is_no_error(check, publish):
    _listed(publish, "keyword", "icbc")  # a keyword never matches the sender field
    response = check("hello", sender="ICBC")
    assert response.json == {"verdict": "allow", "matches": [], "sender_status": None, "sender_chain": None}


def test_a_keyword_published_after_the_engine_was_built_matches_next(check, publish):
    _listed(publish, "keyword", "安全账户")
    assert check("冻结资金").json["verdict"] == "allow"
    entry_id = _listed(publish, "keyword", "冻结资金", as_="internet")
    assert [m["entry_id"] for m in check("您的冻结资金").json["matches"]] == [entry_id]


def test_oversized_text_is_413(check, app):
    limit = settings_of(app).check_max_text
    assert check("a" * limit).status_code == 200
    body = assert_problem(check("a" * (limit + 1)), 413)
    assert str(limit) in body["detail"]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"sender": "13812345678"},
        {"text": 5},
        {"text": None},
        {"text": ["x"]},
        {"text": "hi", "sender": 13812345678},
        {"text": "hi", "sender": "1" * 65},
    ],
)
def test_wrong_types_and_missing_text_are_422(client, callers, payload):
    body = assert_problem(client.post("/v1/check", json=payload, headers=callers["consumer"]), 422)
    assert body["errors"]


def test_check_needs_a_token_with_entries_read(client, auth):
    assert_problem(client.post("/v1/check", json={"text": "hi"}), 401)
    creds = auth.org("carrier")
    headers = auth.headers(creds, scope="feeds:read")
    assert_problem(client.post("/v1/check", json={"text": "hi"}, headers=headers), 403)


@pytest.mark.parametrize("worker_class", ["sync", "gthread"])
def test_publish_and_withdraw_reach_every_worker_on_the_next_check(database_url, auth, worker_class):
    """gunicorn with three workers, each with its own engine (gthread: four threads each): a
    keyword published (and then withdrawn) through one request matches (stops matching) on
    every following check."""
    import json
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    from conftest import LiveServer

    writer = auth.headers(auth.org("carrier"))
    reader = auth.headers(auth.org("consumer"))
    server = LiveServer(
        database_url, workers=3, worker_class=worker_class, extra_env={"GUNICORN_CMD_ARGS": "--threads 4"}
    ).start()

    def call(path, body, headers):
        request = urllib.request.Request(
            server.url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", **headers},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def checks(n=12):
        # concurrently, so threads of one worker also race (the first ones build the engine)
        with ThreadPoolExecutor(max_workers=6) as pool:
            return list(pool.map(lambda _: call("/v1/check", {"text": text}, reader), range(n)))

    text = "您的账户涉嫌洗钱，请配合 公 检 法 调查"
    try:
        # every worker builds its engine before the keyword exists
        assert all(v["verdict"] == "allow" for v in checks())
        entry = call("/v1/entries", {"kind": "keyword", "value": "公检法"}, writer)
        verdicts = checks()
        assert all(
            _bare(v["matches"])
            == [{"kind": "keyword", "entry_id": entry["id"], "value": "公检法", "field": "text", "span": [13, 18]}]
            for v in verdicts
        )
        assert all(v["verdict"] == "block" for v in verdicts)
        call(f"/v1/entries/{entry['id']}/withdraw", {}, writer)
        assert all(
            v == {"verdict": "allow", "matches": [], "sender_status": None, "sender_chain": None} for v in checks()
        )
    finally:
        server.stop()


@pytest.mark.parametrize(
    "keyword, text",
    [("安全账户", "请转入安全帳戶"), ("安全帐户", "请转入安全账户"), ("百万保障", "百️万️保️障，速领")],
)
def test_a_keyword_matches_its_traditional_variants_and_through_variation_selectors(check, publish, keyword, text):
    """帳 folds to 帐 (OpenCC TSCharacters) but is written for 账 too; U+FE0F is default-ignorable
    (Unicode DerivedCoreProperties): neither may let a message past the keyword."""
    entry_id = _listed(publish, "keyword", keyword)
    matches = check(text).json["matches"]
    assert [m["entry_id"] for m in matches] == [entry_id]
    start, end = matches[0]["span"]
    assert text[start:end].replace("\ufe0f", "") in {"安全帳戶", "安全账户", "百万保障"}
