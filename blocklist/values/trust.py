"""Score and tier: the one deterministic rule that says how far a listed entry is acted on.

Pure (no database, no Flask): `assess` takes what the database knows about an entry's open
reports and disputes and the time, and returns the score (0-100), the tier and when the tier
will next change by itself as the entry ages. README "Trust: score and tier" documents the rule
with worked examples; `tests/test_trust_rule.py` checks those examples.

The rule (constants in `TrustRules`, configurable through Settings):

- A regulator's open report is authoritative: score 100, tier `block`, no decay.
- Otherwise the base is the weight of the strongest reporting class (carrier: trusted, 80;
  internet firm and consumer: standard, 50) plus `per_extra_org` (15) for every further
  distinct org, at most 100.
- The base decays with the entry's age: the time since its freshest open report was made or
  refreshed, halved every `half_life[kind]` (a number: 7 days — a carrier's report blocks for
  about 3 days and labels until about 10, MISP's vishing lifetime; codes, ranges, keywords,
  domains 30 days; URLs 14 days; subjects 180 days). `score = round(base × 0.5^(age/half_life))`.
- `block` from `block_at` (60), `label` from `label_at` (30), else `watch`: one trusted org's
  fresh report blocks, one standard org's labels.
- Sightings: a carrier's `hit` refreshes the age (the freshest of its reports and the start of
  the day of the latest carrier hit counts); each distinct standard org that reported the entry
  a `false_positive` takes `fp_penalty` (10) off the score, and `fp_watch_orgs` (3) or more such
  orgs drop it to `watch` — unless a regulator reported it.
- An open dispute caps the tier at `label` (the score is kept).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

TIERS = ("watch", "label", "block")
RANK = {tier: rank for rank, tier in enumerate(TIERS)}
DAY = 24 * 3600

# Trust class of each org kind.
CLASS_OF_ORG_KIND = {"regulator": "authoritative", "carrier": "trusted", "internet": "standard", "consumer": "standard"}
DEFAULT_WEIGHTS = {"trusted": 80, "standard": 50}
DEFAULT_HALF_LIFE = {
    "number": 7 * DAY,
    "code": 30 * DAY,
    "range": 30 * DAY,
    "keyword": 30 * DAY,
    "url": 14 * DAY,
    "domain": 30 * DAY,
    "enterprise": 180 * DAY,
    "person": 180 * DAY,
}


def _frozen(mapping: Mapping) -> Mapping:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustRules:
    weights: Mapping[str, int] = field(default_factory=lambda: _frozen(DEFAULT_WEIGHTS))
    per_extra_org: int = 15
    half_life: Mapping[str, int] = field(default_factory=lambda: _frozen(DEFAULT_HALF_LIFE))
    block_at: int = 60
    label_at: int = 30
    fp_penalty: int = 10
    fp_watch_orgs: int = 3


@dataclass(frozen=True, slots=True)
class Report:
    """What the rule needs of one open report: its org, that org's kind, and when it was made or
    last refreshed."""

    org_id: int
    org_kind: str
    fresh_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Assessment:
    score: int
    tier: str
    # When the tier next changes as the entry ages (None: never by itself).
    due_at: dt.datetime | None


def tier_of(score: int, rules: TrustRules) -> str:
    if score >= rules.block_at:
        return "block"
    if score >= rules.label_at:
        return "label"
    return "watch"


def at_least(tier: str | None, min_tier: str | None) -> bool:
    """Is `tier` at or above `min_tier`? (No minimum: everything; an entry not yet assessed, as
    after the upgrade, counts as `block`, what it was before tiers existed.)"""
    if min_tier is None:
        return True
    return RANK[tier or "block"] >= RANK[min_tier]


def tiers_from(min_tier: str) -> tuple[str, ...]:
    """The tiers at or above `min_tier`."""
    return TIERS[RANK[min_tier] :]


def base_score(reports: Iterable[Report], rules: TrustRules) -> int:
    """The undecayed score of non-authoritative reports (0 with none)."""
    weights: dict[int, int] = {}
    for report in reports:
        weight = rules.weights.get(CLASS_OF_ORG_KIND.get(report.org_kind, "standard"), 0)
        weights[report.org_id] = max(weight, weights.get(report.org_id, 0))
    if not weights:
        return 0
    return min(100, max(weights.values()) + rules.per_extra_org * (len(weights) - 1))


def assess(
    kind: str,
    reports: Iterable[Report],
    now: dt.datetime,
    *,
    open_disputes: int = 0,
    hit_at: dt.datetime | None = None,
    fp_orgs: int = 0,
    rules: TrustRules,
) -> Assessment:
    """The score, tier and next tier change of an entry of `kind` with these open reports, its
    latest carrier hit (`hit_at`) and the number of distinct standard orgs that reported it a
    false positive (`fp_orgs`)."""
    reports = list(reports)
    cap = "label" if open_disputes else "block"
    if any(r.org_kind == "regulator" for r in reports):
        return Assessment(100, _capped("block", cap), None)
    if fp_orgs >= rules.fp_watch_orgs > 0:
        cap = "watch"
    base = max(0, base_score(reports, rules) - rules.fp_penalty * fp_orgs) if reports else 0
    if base == 0:
        return Assessment(0, "watch", None)
    fresh = max(r.fresh_at for r in reports)
    if hit_at is not None and hit_at > fresh:
        fresh = hit_at
    half_life = rules.half_life.get(kind, DAY * 30)
    age = max(0.0, (now - fresh).total_seconds())
    score = round(base * 0.5 ** (age / half_life)) if half_life > 0 else base
    tier = _capped(tier_of(score, rules), cap)
    due_at = None
    if half_life > 0:
        # The tier falls when the rounded score goes below the tier's own floor:
        # base × 0.5^(a/h) < floor - 0.5.
        floor = {"block": rules.block_at, "label": rules.label_at}.get(tier)
        if floor is not None and base >= floor:
            crossing = half_life * math.log2(base / (floor - 0.5))
            due_at = fresh + dt.timedelta(seconds=math.floor(crossing) + 1)
    return Assessment(score, tier, due_at)


def _capped(tier: str, cap: str) -> str:
    """The lower of `tier` and `cap`."""
    return tier if RANK[tier] <= RANK[cap] else cap
