"""Subjects test data: valid codes and ID numbers, the person hash the tests expect, and the
check that no spelling of a raw ID number is in some text."""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import select

from blocklist.db import db

USCC = "91110000600037341L"
OTHER_USCC = "91440300MA5F31111F"
RIC = "11010519491231002X"  # a card seller's resident ID number
OTHER_RIC = "440305198508171238"
PEPPER = "test-pepper-0123456789"  # TEST_CONFIG's subject_peppers[0]
# Every spelling of the identifiers that must never be written anywhere.
SECRETS = (RIC, RIC.lower(), OTHER_RIC, "110105 19491231", "ric:" + RIC)


def person_hash(ric: str, pepper: str = PEPPER) -> str:
    return hmac.new(pepper.encode(), f"ric:{ric}".encode(), hashlib.sha256).hexdigest()


def assert_no_raw_id(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a raw ID number in {where}"


def stored_text() -> str:
    """Every row of every table, as text: what the database holds."""
    return "\n".join(repr(db.session.execute(select(table)).all()) for table in db.metadata.sorted_tables)


def make_uscc(n: int) -> str:
    """A valid unified social credit code, the n-th of a made-up series (check character computed)."""
    from stdnum.cn import uscc

    base = f"9111010{n:010d}"
    return base + uscc.calc_check_digit(base)
