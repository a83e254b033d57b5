"""The score and tier rule (blocklist/values/trust.py) on the worked examples of README "Trust:
score and tier": each row there is a case here, with the same numbers."""

from __future__ import annotations

import datetime as dt

import pytest

from blocklist.values.trust import Report, TrustRules, assess, at_least, tiers_from

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def _assess(kind, org_kinds, age_days, disputes=0, rules=None):
    fresh = NOW - age_days * DAY
    reports = [Report(org_id, org_kind, fresh) for org_id, org_kind in enumerate(org_kinds)]
    return assess(kind, reports, NOW, open_disputes=disputes, rules=rules or TrustRules())


# (kind, reporting org kinds, age in days, open disputes, score, tier, tier falls after (from fresh))
WORKED_EXAMPLES = [
    ("number", ["carrier"], 0, 0, 80, "block", dt.timedelta(days=2, hours=23, minutes=45, seconds=17)),
    ("number", ["internet"], 0, 0, 50, "label", dt.timedelta(days=5, hours=7, minutes=53, seconds=2)),
    ("number", ["internet", "consumer"], 0, 0, 65, "block", dt.timedelta(hours=21, minutes=25, seconds=43)),
    ("number", ["carrier", "internet"], 0, 0, 95, "block", dt.timedelta(days=4, hours=17, minutes=24, seconds=23)),
    ("number", ["carrier"], 3, 0, 59, "label", dt.timedelta(days=10, hours=1, minutes=48)),
    ("number", ["carrier"], 10, 0, 30, "label", dt.timedelta(days=10, hours=1, minutes=48)),
    ("number", ["carrier"], 11, 0, 27, "watch", None),
    ("number", ["regulator"], 365, 0, 100, "block", None),
    ("number", ["carrier"], 0, 1, 80, "label", dt.timedelta(days=10, hours=1, minutes=48)),
    ("number", ["regulator"], 0, 1, 100, "label", None),
    ("code", ["carrier"], 10, 0, 63, "block", dt.timedelta(days=12, hours=19, minutes=31, seconds=10)),
    (
        "number",
        ["carrier"] * 3 + ["internet"] * 2,
        0,
        0,
        100,
        "block",
        dt.timedelta(days=5, hours=5, minutes=50, seconds=19),
    ),
    ("number", ["consumer"], 7, 0, 25, "watch", None),
    ("enterprise", ["carrier"], 90, 0, 57, "label", dt.timedelta(days=259, hours=1, minutes=42, seconds=42)),
]


@pytest.mark.parametrize("kind, orgs, age, disputes, score, tier, falls_after", WORKED_EXAMPLES)
def test_worked_examples(kind, orgs, age, disputes, score, tier, falls_after):
    result = _assess(kind, orgs, age, disputes)
    assert (result.score, result.tier) == (score, tier)
    fresh = NOW - age * DAY
    assert (result.due_at - fresh if result.due_at else None) == falls_after


def test_the_tier_really_falls_at_its_due_time_and_not_before():
    for kind, orgs, age, disputes, _, tier, falls_after in WORKED_EXAMPLES:
        if falls_after is None:
            continue
        fresh_age = falls_after / DAY
        before = _assess(kind, orgs, fresh_age - 2 / 86400, disputes)
        after = _assess(kind, orgs, fresh_age, disputes)
        assert before.tier == tier and after.tier != tier, (kind, orgs, age)


def test_one_org_counts_once_with_its_strongest_report():
    reports = [Report(1, "internet", NOW), Report(1, "internet", NOW)]
    assert assess("number", reports, NOW, rules=TrustRules()).score == 50


def test_no_report_is_watch_and_the_constants_are_configurable():
    assert (_assess("number", [], 0).score, _assess("number", [], 0).tier) == (0, "watch")
    strict = TrustRules(block_at=90, label_at=10)
    assert _assess("number", ["carrier"], 0, rules=strict).tier == "label"
    assert _assess("number", ["carrier"], 11, rules=strict).tier == "label"


def test_min_tier_order():
    assert tiers_from("label") == ("label", "block")
    assert at_least("block", "label") and not at_least("watch", "label") and at_least("watch", None)
    assert at_least(None, "block")  # not yet assessed: as before tiers, block
