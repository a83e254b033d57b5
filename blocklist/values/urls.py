"""URLs: Safe Browsing canonicalisation, look-up expressions, and finding links in text.

Canonical form (``canonicalize_url``) follows the Safe Browsing v4 "URLs and hashing" rules,
with these decisions of ours:

* The input is NFKC-normalised first and the ideographic full stops "。" "｡" in the host are
  read as dots, so full-width forms used to dodge filters ("ｅｖｉｌ。com／pay") canonicalise
  like their ASCII twins.
* The port is dropped, as Safe Browsing drops it (``http://www.gotaport.com:1234/`` ->
  ``http://www.gotaport.com/``): a URL listed with a port and the same URL without one are one
  entry, and a listed URL matches on every port. The port must still be a number from 0 to
  65535 (anything else is no URL).
* User-info (``user:pass@``) is dropped after an explicit ``scheme://``. Without a scheme, an
  "@" in the authority makes the value an e-mail address (``kefu@qq.com``), which is refused:
  reading it as the URL ``http://qq.com/`` would list every link on the mail provider's domain.
  So is any value with a scheme that has no "//" (``mailto:``, ``tel:``, ``javascript:``,
  ``data:``): those name no host (``host:port`` without a scheme is still a host).
* Unlike the Safe Browsing test list, a host containing whitespace or control characters
  (``http:// leadingspace.com/``, ``http://%20leadingspace.com/``, and the scheme-less
  ``%20leadingspace.com/``) is rejected rather than escaped: it cannot be a real host, and
  reading ``%20paypal.com/`` as ``paypal.com`` would list all of paypal.com. Other ASCII
  oddities (``host%23.com``) are kept, escaped, as Safe Browsing does.
* Non-ASCII host labels become IDNA punycode (UTS 46 via ``idna``; Python's IDNA 2003 codec
  as a fall-back for labels the 2008 rules refuse, such as emoji).
* Bracketed IPv6 hosts are accepted and written in compressed form.
* A host name is bounded as DNS bounds it: at most 253 characters (``MAX_HOST_CHARS``) and
  labels of at most 63 (``MAX_LABEL_CHARS``), counted on the canonical (punycode) form. A longer
  host is InvalidValue (no resolver would look it up), checked before any per-label work, so
  the cost of a hostile host is linear in its length and most of it is never touched.

The canonical URL is ASCII: ``scheme://host/path[?query]``.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from functools import lru_cache

import idna
import tldextract

from .kinds import InvalidValue

__all__ = [
    "canonicalize_url",
    "url_expressions",
    "url_expression",
    "url_host",
    "host_suffixes",
    "check_host_size",
    "find_urls",
    "MAX_HOST_CHARS",
    "MAX_LABEL_CHARS",
]

IDEOGRAPHIC_DOTS = str.maketrans({"\u3002": ".", "\uff61": ".", "\uff0e": "."})

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://")
# "name:" not followed by "//" nor by a port: a scheme without an authority (mailto:, tel:...).
# "sms:10086" reads like host "sms" with a port, so the schemes that never have an authority
# (IANA URI scheme registry) are refused whatever follows them.
_OPAQUE_SCHEME = re.compile(
    r"(?:mailto|tel|sms|smsto|mms|fax|callto|sip|sips|xmpp|im|geo|urn|data|javascript|vbscript|about|blob):"
    r"|[A-Za-z][A-Za-z0-9+.\-]*:(?![0-9]*(?:[/?#]|$))",
    re.IGNORECASE,
)
_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")
_MUST_ESCAPE = frozenset(range(0x21)) | frozenset(range(0x7F, 0x100)) | {ord("#"), ord("%")}
_ESCAPED_BYTE = [f"%{b:02X}" if b in _MUST_ESCAPE else chr(b) for b in range(256)]
_IPV4_PART = re.compile(r"0[xX][0-9A-Fa-f]*|[0-9]+")

# DNS (RFC 1035 2.3.4, as resolvers apply it): a name of at most 253 characters written
# without its trailing dot, labels of at most 63. Hence at most 127 labels.
MAX_HOST_CHARS, MAX_LABEL_CHARS = 253, 63
MAX_HOST_LABELS = (MAX_HOST_CHARS + 1) // 2
# Safe Browsing v4 "Suffix/Prefix Expressions": the exact host and up to 4 more formed from its
# last 5 components by removing the leading one each time.
MAX_HOST_SUFFIXES = 5

# One extractor, offline: the Public Suffix List snapshot bundled with tldextract.
EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _unescape_fully(data: bytes) -> bytes:
    """Percent-unescape repeatedly until nothing changes (a stray "%" is left as it is)."""
    for _ in range(1024):
        again = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data)
        if again == data:
            break
        data = again
    return data


def _escape(data: bytes) -> str:
    return "".join([_ESCAPED_BYTE[b] for b in data])


def _parse_ipv4(host: str) -> str | None:
    """The dotted quad for ``host`` if its last label is numeric (decimal, 0x-hex or 0-octal,
    1 to 4 parts, as inet_aton reads them); None if it is a name. InvalidValue if it looks
    numeric but is not a valid address."""
    parts = host.split(".")
    if not _IPV4_PART.fullmatch(parts[-1]):
        return None
    if len(parts) > 4 or not all(_IPV4_PART.fullmatch(p) for p in parts):
        raise InvalidValue("The host looks like an IP address but is not a valid one.")
    numbers = []
    for p in parts:
        if p[:2].lower() == "0x":
            numbers.append(int(p[2:] or "0", 16))
        elif len(p) > 1 and p[0] == "0":
            if not set(p) <= set("01234567"):
                raise InvalidValue("The host looks like an IP address but is not a valid one.")
            numbers.append(int(p, 8))
        else:
            numbers.append(int(p))
    last_room = 256 ** (5 - len(parts))
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= last_room:
        raise InvalidValue("The host looks like an IP address but is not a valid one.")
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n << (8 * (3 - i))
    return str(ipaddress.IPv4Address(value))


def _idna_label(label: str) -> str:
    try:
        return idna.encode(label, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        pass
    try:
        return label.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    if len(label) > MAX_LABEL_CHARS - len("xn--"):  # its punycode would be too: say so
        raise InvalidValue(
            f"Each label of a host name (the parts between dots) has at most "
            f"{MAX_LABEL_CHARS} characters, written in punycode."
        )
    raise InvalidValue(f"The host label {label!r} cannot be written as an IDNA name.")


def _letters_digits_hyphens(label: str) -> str:
    """An internationalised label may hold only letters, digits and hyphens: anything else
    (a "%", "!" ...) would be carried into the punycode and escaped, so that the canonical form
    of the canonical form differed from it. Such a label is no host name."""
    if not all(c.isalnum() or c == "-" for c in label):
        raise InvalidValue("An internationalised host name may contain only letters, digits and hyphens.")
    return label


def check_host_size(host: str) -> str:
    """``host`` (a lower-case host name, dots not doubled) if DNS could hold it; InvalidValue
    saying which bound it breaks otherwise. An ASCII host is checked exactly; a host not yet
    written in punycode by what no mapping can shrink below the bounds (its number of labels,
    its ASCII labels) and by a generous cap of 4 x 253 characters, so that IDNA never works on
    a hostile megabyte. Cheap on any input: counts, then one split of a bounded string."""
    too_long = f"A host name has at most {MAX_HOST_CHARS} characters."
    if host.count(".") >= MAX_HOST_LABELS:
        raise InvalidValue(too_long)
    ascii_only = host.isascii()
    if len(host) > (MAX_HOST_CHARS if ascii_only else 4 * MAX_HOST_CHARS):
        raise InvalidValue(too_long)
    if any(len(label) > MAX_LABEL_CHARS and (ascii_only or label.isascii()) for label in host.split(".")):
        raise InvalidValue(
            f"Each label of a host name (the parts between dots) has at most {MAX_LABEL_CHARS} characters."
        )
    return host


def _canonical_host(host: str) -> str:
    if host.startswith("["):
        if not host.endswith("]"):
            raise InvalidValue("The IPv6 host is missing its closing bracket.")
        try:
            return f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
        except ValueError:
            raise InvalidValue("The host is not a valid IPv6 address.") from None
    host = host.translate(IDEOGRAPHIC_DOTS)
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf", "Zs") for c in host):
        raise InvalidValue("The host of a URL cannot contain spaces or control characters.")
    host = re.sub(r"\.{2,}", ".", host.strip(".")).lower()
    if not host:
        raise InvalidValue("The URL has no host.")
    if "[" in host or "]" in host:  # ".[" would canonicalise to "[", read back as an IPv6 host
        raise InvalidValue("Square brackets belong only around an IPv6 address.")
    check_host_size(host)
    if not host.isascii():
        host = check_host_size(
            ".".join(lab if lab.isascii() else _idna_label(_letters_digits_hyphens(lab)) for lab in host.split("."))
        )
    ip = _parse_ipv4(host)
    return ip if ip is not None else host


def _canonical_path(path: str) -> str:
    """Resolve "." and ".." segments and collapse runs of "/"; always starts with "/"."""
    segments = path.split("/")[1:] if path.startswith("/") else path.split("/")
    out: list[str] = []
    last = len(segments) - 1
    for i, seg in enumerate(segments):
        if seg == ".":
            if i == last:
                out.append("")
        elif seg == "..":
            if out:
                out.pop()
            if i == last:
                out.append("")
        elif seg or i == last:
            out.append(seg)
    return "/" + "/".join(out)


def canonicalize_url(raw: str) -> str:
    """Return the canonical form of URL ``raw`` (see the module docstring).

    Raises InvalidValue when ``raw`` cannot be a URL (empty, no host, a bad port, spaces in the
    host, a host that is neither a name nor an IP address, a host name over DNS's bounds)."""
    if not isinstance(raw, str):
        raise InvalidValue("A URL must be a string.")
    text = unicodedata.normalize("NFKC", raw)
    text = text.replace("\t", "").replace("\r", "").replace("\n", "").strip()
    text = text.split("#", 1)[0]
    if not text:
        raise InvalidValue("The URL is empty.")
    # Not stripped again once unescaped: "%20host.com" is a host with a space, not "host.com".
    data = _unescape_fully(text.encode("utf-8", "surrogatepass"))
    text = data.decode("utf-8", "surrogateescape")
    m = _SCHEME.match(text)
    if m:
        scheme, rest = m.group(1).lower(), text[m.end() :]
    elif _OPAQUE_SCHEME.match(text):
        raise InvalidValue(
            "Only a URL with a host (http://host/...) can be listed; "
            "mailto:, tel:, javascript: and other schemes without one cannot."
        )
    else:
        scheme, rest = "http", text
    rest, qmark, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    if not m and "@" in authority:
        raise InvalidValue("An e-mail address is not a URL (a URL without a scheme has no user@ part).")
    authority = authority.rpartition("@")[2]
    port = ""
    if authority.startswith("["):
        host, bracket, after = authority.partition("]")
        host += bracket
        if after and not after.startswith(":"):
            raise InvalidValue("Unexpected text after the IPv6 host.")
        port = after[1:]
    else:
        host, _, port = authority.partition(":")
    if port:
        if not port.isascii() or not port.isdigit() or int(port) > 65535:
            raise InvalidValue("The URL's port is not a number from 0 to 65535.")
    try:
        host.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidValue("The URL's host is not valid UTF-8.") from None
    host = _canonical_host(host)
    path = _canonical_path(slash + path)
    out = f"{scheme}://{_escape(host.encode())}{_escape(path.encode('utf-8', 'surrogateescape'))}"
    if qmark:
        out += "?" + _escape(query.encode("utf-8", "surrogateescape"))
    return out


def _split(canonical: str) -> tuple[str, str, str | None]:
    """(host without port, path, query or None) of a canonical URL."""
    _, sep, rest = canonical.partition("://")
    if not sep:
        raise InvalidValue("Not a canonical URL (no scheme).")
    rest, qmark, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    if authority.startswith("["):
        host = authority.partition("]")[0] + "]"
    else:
        host = authority.partition(":")[0]
    if not host:
        raise InvalidValue("Not a canonical URL (no host).")
    return host, slash + path or "/", (query if qmark else None)


def url_host(canonical: str) -> str:
    """The host of a canonical URL (without port, should an old canonical URL carry one)."""
    return _split(canonical)[0]


def url_expression(canonical: str) -> str:
    """The one expression a listed URL stands for: host + path (+ "?" + query), no scheme or
    port. A listed URL E matches URL U when ``url_expression(E) in url_expressions(U)``."""
    host, path, query = _split(canonical)
    return host + path + ("" if query is None else "?" + query)


def _is_ip(host: str) -> bool:
    if host.startswith("["):
        return True
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def host_suffixes(host: str) -> list[str]:
    """The Safe Browsing host suffixes of a canonical host, at most MAX_HOST_SUFFIXES: the exact
    host, then up to four hosts formed from its last five labels by removing the leading label
    each time, never the last label alone; only the exact host for an IP address.
    "a.b.c.d.e.f.g" -> ["a.b.c.d.e.f.g", "c.d.e.f.g", "d.e.f.g", "e.f.g", "f.g"]."""
    if _is_ip(host):
        return [host]
    labels = host.rsplit(".", MAX_HOST_SUFFIXES)[-MAX_HOST_SUFFIXES:]
    n = len(labels)
    return list(dict.fromkeys([host] + [".".join(labels[i:]) for i in range(n - 1)]))


@lru_cache(maxsize=4096)
def _expressions(canonical: str) -> tuple[str, ...]:
    host, path, query = _split(canonical)
    hosts = host_suffixes(host)
    components = [c for c in path.split("/") if c]
    prefixes = ["/"] + ["/" + "/".join(components[:i]) + "/" for i in range(1, min(len(components), 4))]
    paths = ([path + "?" + query] if query is not None else []) + [path] + prefixes
    seen: dict[str, None] = {}
    for h in hosts:
        for p in paths:
            seen.setdefault(h + p)
    return tuple(seen)


def url_expressions(canonical: str) -> list[str]:
    """The Safe Browsing host-suffix / path-prefix expressions of a canonical URL (at most
    5 hosts x 6 paths), most specific first: for each host (the exact host, then up to four
    suffixes of its last five labels, never the last label alone; only the exact host for an
    IP address), the exact path with query, the exact path, then "/" and up to three more
    path prefixes ending in "/"."""
    return list(_expressions(canonical))


# --- finding links in free text ---------------------------------------------------------

_URL_CHARS = r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_TLD = r"(?:[A-Za-z](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)"
_LINK = re.compile(
    rf"(?P<scheme>(?<![A-Za-z0-9+.\-])(?:https?|ftp)://{_URL_CHARS}+)"
    rf"|(?<![A-Za-z0-9.\-@_])(?P<host>(?:{_LABEL}\.)+{_TLD})(?![A-Za-z0-9\-_])"
    rf"(?P<tail>(?::[0-9]{{1,5}})?(?:[/?#]{_URL_CHARS}*)?)",
    re.IGNORECASE,
)
# What every link has: a scheme's "://", or a host's letter or digit, dot, then a top-level
# domain's first letter.
_MAYBE_LINK = re.compile(r"://|[A-Za-z0-9]\.[A-Za-z]")
_TRAILING = ".,;:!?'\"*"
_PAIRS = {")": "(", "]": "[", "}": "{"}


class _ScanMap(dict):
    """char -> one char used only for scanning: the NFKC form when that is one ASCII char
    ("ｅ" -> "e", "．" -> "."), "." for ideographic full stops, else the char itself. Keeps
    the scanned text exactly as long as the original, so spans need no mapping."""

    def __missing__(self, ch: str) -> str:
        n = unicodedata.normalize("NFKC", ch)
        out = "." if ch in "\u3002\uff61" else (n if len(n) == 1 and n.isascii() else ch)
        if len(self) < 100_000:
            self[ch] = out
        return out


_scan_map = _ScanMap()


def _trim(link: str) -> str:
    """Drop trailing punctuation that belongs to the sentence, and unbalanced closers."""
    while link:
        last = link[-1]
        if last in _TRAILING:
            link = link[:-1]
        elif last in _PAIRS and link.count(_PAIRS[last]) < link.count(last):
            link = link[:-1]
        else:
            break
    return link


@lru_cache(maxsize=16384)
def _has_public_suffix(host: str) -> bool:
    ext = EXTRACT(host.lower())
    return bool(ext.suffix and ext.domain)


def find_urls(text: str) -> list[tuple[int, int, str]]:
    """Every link in ``text`` as ``(start, end, raw)``: ``text[start:end] == raw``.

    Found: links with an http, https or ftp scheme; scheme-less links whose host ends in a real
    public suffix (``www.example.com/x``, ``bit.ly/abc``; so "e.g", "3.14" and "file.txt" are
    not links), even when glued to Chinese text or punctuation, or written with full-width
    letters and dots ("ｅｖｉｌ。com/pay"). A link ends at whitespace or at the first character
    that is not ASCII after full-width folding (so a Chinese character ends it: hosts written
    in Chinese are not found, only their punycode), and sentence punctuation at its end is
    left out. E-mail addresses are not links, and neither is a host name longer than DNS allows
    (``check_host_size``): no resolver would look it up, so nothing is lost by not checking it.
    Linear in the length of ``text``."""
    scan = "".join(map(_scan_map.__getitem__, text))
    if not _MAYBE_LINK.search(scan):  # most texts: a cheaper scan than _LINK's
        return []
    found: list[tuple[int, int, str]] = []
    for m in _LINK.finditer(scan):
        start = m.start()
        link = _trim(m.group(0))
        if m.group("scheme"):
            after = link.split("://", 1)[1]
            if not after or after[0] in "/?#":
                continue
        elif len(m.group("host")) > MAX_HOST_CHARS or not _has_public_suffix(m.group("host")):
            continue
        end = start + len(link)
        found.append((start, end, text[start:end]))
    return found
