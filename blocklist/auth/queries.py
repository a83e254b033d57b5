"""Reading organisations and API clients for the admin routes, one page at a time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..pagination import Page, paginate
from .models import Client, Org


def list_orgs(page: dict[str, Any]) -> Page:
    return paginate(select(Org), [Org.id], cursor=page["cursor"], limit=page["limit"])


def list_clients(org: Org, page: dict[str, Any]) -> Page:
    return paginate(
        select(Client).where(Client.org_id == org.id), [Client.id], cursor=page["cursor"], limit=page["limit"]
    )
