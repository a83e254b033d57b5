"""DNS exports: a response-policy zone (RPZ) and a hosts file, for domains and the hosts of
listed URLs.

RPZ (draft-vixie-dnsop-dns-rpz, as BIND and Unbound implement it): a listed domain `d` gives
`d CNAME .` and `*.d CNAME .` (NXDOMAIN for it and every name under it, as the exchange's own
matching treats a domain); a listed URL's host gives `host CNAME .` (the host only). IP hosts
are left out (they would need `rpz-ip` triggers). The SOA serial is the feed position the
export was read at (modulo 2**32, RFC 1982 serial arithmetic), so a resolver's refresh sees
every change as a higher serial."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import idna

from ..values import urls
from . import reads

RPZ_TTL = 300
SOA_TIMERS = "3600 600 604800 300"  # refresh, retry, expire, negative TTL
SINKHOLE = "0.0.0.0"
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
MAX_NAME = 253


def zone_name(text: str) -> str | None:
    """The zone name as a lower-case absolute-free DNS name (no trailing dot), None if invalid."""
    name = text.lower().rstrip(".")
    if not name or len(name) > MAX_NAME - 10 or not all(_LABEL.match(label) for label in name.split(".")):
        return None
    return name


def _host(kind: str, value: str) -> str | None:
    """The DNS name an entry blocks (ASCII), or None (an IP host, or not a DNS name)."""
    host = value if kind == "domain" else urls.url_host(value)
    if urls._is_ip(host):
        return None
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            return None
    host = host.lower().rstrip(".")
    if not host or not all(_LABEL.match(label) for label in host.split(".")):
        return None
    return host


def hosts(rows: Iterable[reads.ActiveRow]) -> Iterator[tuple[str, bool]]:
    """(host, is_domain) for every row with a DNS name, skipping a repeat of the previous one."""
    previous = None
    for row in rows:
        host = _host(row.kind, row.value)
        if host is not None and host != previous:
            yield host, row.kind == "domain"
            previous = host


def rpz(conn, zone: str, serial: int) -> Iterator[str]:
    room = MAX_NAME - len(zone) - 1
    yield (
        f"; Blocklist exchange response-policy zone, at feed position {serial}\n"
        f"$ORIGIN {zone}.\n$TTL {RPZ_TTL}\n"
        f"@ IN SOA localhost. hostmaster.localhost. {serial % 2**32} {SOA_TIMERS}\n"
        "@ IN NS localhost.\n"
    )
    for host, is_domain in hosts(reads.active_entries(conn, ("domain", "url"))):
        if len(host) + 2 > room:
            continue
        yield f"{host} CNAME .\n*.{host} CNAME .\n" if is_domain else f"{host} CNAME .\n"


def hosts_file(conn, position: int) -> Iterator[str]:
    yield f"# Blocklist exchange hosts file, at feed position {position}\n"
    for host, _ in hosts(reads.active_entries(conn, ("domain", "url"))):
        yield f"{SINKHOLE} {host}\n"
