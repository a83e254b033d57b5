"""Reading holdings and representatives: the list endpoints, a resource's chain of holders at a
date, screening an applicant, and a code sender's status for /v1/check. Read-only; every
answer is bounded (`MAX_RELATED`, `MAX_CHAIN`, the page limit) whatever the data."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import and_, or_, select

from ..db import db, utcnow
from ..entries.models import Entry
from ..pagination import Page, paginate
from ..values.subjects import is_person_hash
from .models import Holding, Representative

MAX_RELATED = 100  # related subjects (and their holdings) per screening, at most
MAX_HOLDINGS = 1000  # holdings a screening lists
MAX_CHAIN = 100  # links of a chain


def subject_kind_of(value: str) -> str:
    """A subject value's kind by its shape: a person's 64-hex hash, else an enterprise's USCC."""
    return "person" if is_person_hash(value) else "enterprise"


def list_holdings(args: dict[str, Any]) -> Page:
    """Holdings of a resource and/or a subject (as a holder, lessee or lessor), valid at `at`
    if given, oldest first."""
    stmt = select(Holding)
    if "resource" in args:
        stmt = stmt.where(Holding.resource_kind == args["resource_kind"], Holding.resource_value == args["resource"])
    if "subject" in args:
        kind, value = args["subject_kind"], args["subject"]
        stmt = stmt.where(
            or_(
                and_(Holding.subject_kind == kind, Holding.subject_value == value),
                and_(Holding.lessor_kind == kind, Holding.lessor_value == value),
            )
        )
    if args.get("at") is not None:
        stmt = stmt.where(Holding.valid_during(*args["at"]))
    return paginate(stmt, [Holding.id], cursor=args["cursor"], limit=args["limit"])


def list_representatives(args: dict[str, Any]) -> Page:
    stmt = select(Representative)
    if "enterprise" in args:
        stmt = stmt.where(Representative.enterprise == args["enterprise"])
    if "person" in args:
        stmt = stmt.where(Representative.person == args["person"])
    if args.get("at") is not None:
        stmt = stmt.where(Representative.valid_during(*args["at"]))
    return paginate(stmt, [Representative.id], cursor=args["cursor"], limit=args["limit"])


def listings_of(pairs: set[tuple[str, str]], *, active_only: bool = True) -> dict[tuple[str, str], Entry]:
    """The subject entries of these (kind, value) pairs (active ones only, by default)."""
    if not pairs:
        return {}
    clause = or_(*(and_(Entry.kind == k, Entry.value == v) for k, v in sorted(pairs)))
    stmt = select(Entry).where(clause)
    if active_only:
        stmt = stmt.where(Entry.active_at(utcnow()))
    return {(e.kind, e.value): e for e in db.session.scalars(stmt)}


# --- chain -----------------------------------------------------------------------------------


def chain(kind: str, value: str, at: tuple[dt.datetime, dt.datetime]) -> list[dict[str, Any]]:
    """The holders and lessees of a resource during `at` ([start, end): a day or an instant), in
    chain order: holders first, then each
    lessee after its lessor (by the lessor link); links whose lessor is not in the chain come
    last. Each with the subject's entry (any status: the chain is evidence), or None."""
    holdings = list(
        db.session.scalars(
            select(Holding)
            .where(Holding.resource_kind == kind, Holding.resource_value == value, Holding.valid_during(*at))
            .order_by(Holding.valid_from, Holding.id)
            .limit(MAX_CHAIN)
        )
    )
    ordered: list[Holding] = [h for h in holdings if h.role == "holder"]
    placed = {h.id for h in ordered}
    frontier = [(h.subject_kind, h.subject_value) for h in ordered]
    while frontier:
        lessor = frontier.pop(0)
        for h in holdings:
            if h.id not in placed and (h.lessor_kind, h.lessor_value) == lessor:
                ordered.append(h)
                placed.add(h.id)
                frontier.append((h.subject_kind, h.subject_value))
    ordered.extend(h for h in holdings if h.id not in placed)
    entries = listings_of({(h.subject_kind, h.subject_value) for h in ordered}, active_only=False)
    return [{"holding": h, "listing": entries.get((h.subject_kind, h.subject_value))} for h in ordered]


# --- screening -------------------------------------------------------------------------------


def _related(relation: str, kind: str, value: str, via: str | None = None) -> dict[str, Any]:
    return {"relation": relation, "kind": kind, "value": value, "via": via, "listings": []}


def screen(kind: str, values: list[str]) -> dict[str, Any]:
    """Screen an applicant (its canonical value, and a person's hashes under retired peppers):
    its own listings, the resources it holds now, and related subjects with their listings:
    an enterprise's representatives (open now) and the other enterprises those persons represent
    or represented (the 95 case), a person's enterprises, and subjects one lease away.
    `restricted` is true when the applicant, a representative / represented enterprise, or an
    enterprise sharing its representative is listed; lease neighbours are reported but do not
    restrict by themselves."""
    now = utcnow()
    own = listings_of({(kind, v) for v in values})
    holdings = list(
        db.session.scalars(
            select(Holding)
            .where(Holding.subject_kind == kind, Holding.subject_value.in_(values), Holding.valid_at(now))
            .order_by(Holding.id)
            .limit(MAX_HOLDINGS)
        )
    )
    related: dict[tuple[str, str], dict[str, Any]] = {}

    def add(relation: str, rkind: str, rvalue: str, via: str | None = None) -> None:
        if (rkind, rvalue) not in related and rvalue not in values and len(related) < MAX_RELATED:
            related[(rkind, rvalue)] = _related(relation, rkind, rvalue, via)

    if kind == "enterprise":
        persons = db.session.scalars(
            select(Representative.person)
            .where(Representative.enterprise.in_(values), Representative.valid_at(now))
            .limit(MAX_RELATED)
        ).all()
        for person in persons:
            add("representative", "person", person)
        for row in db.session.execute(
            select(Representative.enterprise, Representative.person)
            .where(Representative.person.in_(persons), Representative.enterprise.not_in(values))
            .limit(MAX_RELATED)
        ):
            add("shares_representative", "enterprise", row.enterprise, via=row.person)
    else:
        for enterprise in db.session.scalars(
            select(Representative.enterprise).where(Representative.person.in_(values)).limit(MAX_RELATED)
        ):
            add("represents", "enterprise", enterprise)
    lease = select(Holding).where(
        or_(
            and_(Holding.lessor_kind == kind, Holding.lessor_value.in_(values)),
            and_(Holding.subject_kind == kind, Holding.subject_value.in_(values), Holding.lessor_kind.is_not(None)),
        )
    )
    for h in db.session.scalars(lease.order_by(Holding.id).limit(MAX_RELATED)):
        if h.subject_value in values:
            assert h.lessor_kind is not None and h.lessor_value is not None
            add("lessor", h.lessor_kind, h.lessor_value, via=f"holding {h.id}")
        else:
            add("lessee", h.subject_kind, h.subject_value, via=f"holding {h.id}")
    found = listings_of(set(related))
    for key, item in related.items():
        if key in found:
            item["listings"].append(found[key])
    restricting = {"representative", "represents", "shares_representative"}
    restricted = bool(own) or any(item["listings"] and item["relation"] in restricting for item in related.values())
    return {
        "restricted": restricted,
        "listings": list(own.values()),
        "holdings": holdings,
        "related": [item for item in related.values()],
    }


# --- sender status ---------------------------------------------------------------------------


# Service codes (as opposed to subscriber numbers): 10xx/106xx SMS and carrier codes, 12xxx
# public-service numbers, 95xxx/96xxx call centres, 400 numbers.
SERVICE_CODE = re.compile(r"(1[0-2]|9[56]|400)[0-9]*")


def sender_status(code: str | None) -> tuple[str | None, list[dict[str, Any]] | None]:
    """For a sender read as a code: `restricted` (someone in its chain now is listed) or
    `registered` (a holder is recorded now), with the chain (holding id, role, subject,
    listed); with no holding recorded, `unregistered` for a service code (`SERVICE_CODE`) and
    (None, None) for anything else (a subscriber number is nobody's code)."""
    if code is None:
        return None, None
    now = utcnow()
    links = chain("code", code, (now, now + dt.timedelta(microseconds=1)))
    if not links:
        return ("unregistered", []) if SERVICE_CODE.fullmatch(code) else (None, None)
    listed = {(h["holding"].subject_kind, h["holding"].subject_value) for h in links} & set(
        listings_of({(h["holding"].subject_kind, h["holding"].subject_value) for h in links})
    )
    out = [
        {
            "holding_id": h["holding"].id,
            "role": h["holding"].role,
            "subject": {"kind": h["holding"].subject_kind, "value": h["holding"].subject_value},
            "listed": (h["holding"].subject_kind, h["holding"].subject_value) in listed,
        }
        for h in links
    ]
    return ("restricted" if listed else "registered"), out
