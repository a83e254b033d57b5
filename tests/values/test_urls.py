"""URLs: Safe Browsing canonicalisation and expressions, and finding links in free text."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from blocklist.values.kinds import InvalidValue
from blocklist.values.urls import (
    MAX_HOST_CHARS,
    canonicalize_url,
    check_host_size,
    find_urls,
    host_suffixes,
    url_expression,
    url_expressions,
    url_host,
)

# The canonicalisation examples of the Safe Browsing v4 "URLs and hashing" page,
# https://developers.google.com/safe-browsing/v4/urls-hashing#canonicalization (the same list is
# the test table of Google's Go client, github.com/google/safebrowsing urls_test.go); those whose
# host contains a space or control character are in SB_EXAMPLES_WE_REJECT, a deliberate
# deviation (README "Canonical forms").
SB_EXAMPLES = [
    ("http://www.gotaport.com:1234/", "http://www.gotaport.com/"),
    ("http://host/%25%32%35", "http://host/%25"),
    ("http://host/%25%32%35%25%32%35", "http://host/%25%25"),
    ("http://host/%2525252525252525", "http://host/%25"),
    ("http://host/asdf%25%32%35asd", "http://host/asdf%25asd"),
    ("http://host/%%%25%32%35asd%%", "http://host/%25%25%25asd%25%25"),
    ("http://www.google.com/", "http://www.google.com/"),
    (
        "http://%31%36%38%2e%31%38%38%2e%39%39%2e%32%36/%2E%73%65%63%75%72%65/%77%77%77%2E%65%62%61%79%2E%63%6F%6D/",
        "http://168.188.99.26/.secure/www.ebay.com/",
    ),
    (
        "http://195.127.0.11/uploads/%20%20%20%20/.verify/.eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/",
        "http://195.127.0.11/uploads/%20%20%20%20/.verify/.eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/",
    ),
    (
        "http://host%23.com/%257Ea%2521b%2540c%2523d%2524e%25f%255E00%252611%252A22%252833%252944_55%252B",
        "http://host%23.com/~a!b@c%23d$e%25f^00&11*22(33)44_55+",
    ),
    ("http://3279880203/blah", "http://195.127.0.11/blah"),
    ("http://www.google.com/blah/..", "http://www.google.com/"),
    ("www.google.com/", "http://www.google.com/"),
    ("www.google.com", "http://www.google.com/"),
    ("http://www.evil.com/blah#frag", "http://www.evil.com/blah"),
    ("http://www.GOOgle.com/", "http://www.google.com/"),
    ("http://www.google.com.../", "http://www.google.com/"),
    ("http://www.google.com/foo\tbar\rbaz\n2", "http://www.google.com/foobarbaz2"),
    ("http://www.google.com/q?", "http://www.google.com/q?"),
    ("http://www.google.com/q?r?", "http://www.google.com/q?r?"),
    ("http://www.google.com/q?r?s", "http://www.google.com/q?r?s"),
    ("http://evil.com/foo#bar#baz", "http://evil.com/foo"),
    ("http://evil.com/foo;", "http://evil.com/foo;"),
    ("http://evil.com/foo?bar;", "http://evil.com/foo?bar;"),
    ("http://notrailingslash.com", "http://notrailingslash.com/"),
    ("  http://www.google.com/  ", "http://www.google.com/"),
    ("https://www.securesite.com/", "https://www.securesite.com/"),
    ("http://host.com/ab%23cd", "http://host.com/ab%23cd"),
    ("http://host.com//twoslashes?more//slashes", "http://host.com/twoslashes?more//slashes"),
]

OUR_RULES = [
    # ports: every port dropped, as Safe Browsing drops it (the gotaport vector above)
    ("http://example.com:80/a", "http://example.com/a"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("https://example.com:80/a", "https://example.com/a"),
    ("http://example.com:/a", "http://example.com/a"),
    ("http://example.com:08080/", "http://example.com/"),
    ("example.com:8080/a", "http://example.com/a"),
    ("localhost:8080", "http://localhost/"),
    # user-info dropped
    ("http://user:secret@Example.com/a", "http://example.com/a"),
    ("http://a@b@example.com/", "http://example.com/"),
    # path resolution
    ("http://example.com/a/./b/../c", "http://example.com/a/c"),
    ("http://example.com/a/b/..", "http://example.com/a/"),
    ("http://example.com/a/b/.", "http://example.com/a/b/"),
    ("http://example.com/../../x", "http://example.com/x"),
    ("http://example.com/a/%2e%2e/b", "http://example.com/b"),
    ("http://example.com//a///b//", "http://example.com/a/b/"),
    ("http://example.com/a/../b?c=/../d", "http://example.com/b?c=/../d"),
    # IPv4 in every form inet_aton reads
    ("http://0xC37F000B/", "http://195.127.0.11/"),
    ("http://0303.0177.0.013/", "http://195.127.0.11/"),
    ("http://195.127.11/", "http://195.127.0.11/"),
    ("http://195.8323083/", "http://195.127.0.11/"),
    ("http://0x7f.1/", "http://127.0.0.1/"),
    ("http://[::FFFF:1]:8080/x", "http://[::ffff:1]/x"),
    # host clean-up and IDNA
    ("http://..www..Example..com../", "http://www.example.com/"),
    ("http://例子.中国/路径", "http://xn--fsqu00a.xn--fiqs8s/%E8%B7%AF%E5%BE%84"),
    ("http://BÜCHER.de/", "http://xn--bcher-kva.de/"),
    ("http://xn--bcher-kva.de/", "http://xn--bcher-kva.de/"),
    ("http://%E4%BE%8B%E5%AD%90.%E4%B8%AD%E5%9B%BD/", "http://xn--fsqu00a.xn--fiqs8s/"),
    # full-width evasion
    ("ｅｖｉｌ。com/pay", "http://evil.com/pay"),
    ("ｈｔｔｐ：／／ＥＶＩＬ．ＣＯＭ／ｐａｙ", "http://evil.com/pay"),
    ("evil｡com", "http://evil.com/"),
    # scheme case, other schemes, escaping
    ("HTTPS://Example.com/A", "https://example.com/A"),
    ("ftp://example.com:21/f", "ftp://example.com/f"),
    ("http://example.com/a b", "http://example.com/a%20b"),
    ("http://example.com/%zz%4", "http://example.com/%25zz%254"),
    ("http://example.com/\u00e9", "http://example.com/%C3%A9"),
    ("http://example.com/%ff", "http://example.com/%FF"),
    ("t.cn/A6x", "http://t.cn/A6x"),
]


@pytest.mark.parametrize("raw, canonical", SB_EXAMPLES + OUR_RULES)
def test_canonicalize_url(raw, canonical):
    assert canonicalize_url(raw) == canonical
    assert canonicalize_url(canonical) == canonical


# Safe Browsing escapes these hosts ("http://%20leadingspace.com/", "http://%01%80.com/"); we
# refuse them (no real host has a space or control character), and the scheme-less form the same
# way: reading "%20paypal.com/" as "http://paypal.com/" would list all of paypal.com.
SB_EXAMPLES_WE_REJECT = [
    "http:// leadingspace.com/",
    "http://%20leadingspace.com/",
    "%20leadingspace.com/",
    "http://\x01\x80.com/",
]

# Not URLs of a host at all: e-mail addresses (RFC 5322 addr-spec) and URIs whose scheme has no
# authority (RFC 3986 3: "mailto:", "tel:", RFC 6068, RFC 3966). Reading "kefu@qq.com" as
# "http://qq.com/" would block every qq.com link.
NOT_HOST_URLS = [
    "mailto:bryner@google.com",
    "kefu@qq.com",
    "%20kefu@qq.com",
    "user:pass@example.com/a",
    "tel:+8613800138000",
    "javascript:alert(1)",
    "data:text/html,<b>x</b>",
    "sms:10086",
]


@pytest.mark.parametrize("raw", SB_EXAMPLES_WE_REJECT + NOT_HOST_URLS)
def test_hosts_with_spaces_and_values_without_a_host_are_no_urls(raw):
    with pytest.raises(InvalidValue):
        canonicalize_url(raw)


@pytest.mark.parametrize(
    "with_port, without",
    [("http://www.gotaport.com:1234/", "http://www.gotaport.com/"), ("evil.com:8443/pay?x=1", "evil.com/pay?x=1")],
)
def test_a_url_with_a_port_is_the_same_entry_as_without(with_port, without):
    assert canonicalize_url(with_port) == canonicalize_url(without)
    assert url_expressions(canonicalize_url(with_port)) == url_expressions(canonicalize_url(without))


@pytest.mark.parametrize(
    "raw",
    SB_EXAMPLES_WE_REJECT
    + [
        "",
        "   ",
        "#frag",
        "http://",
        "http:///path",
        "http://user@/",
        "http://:80/",
        "http://exa mple.com/",
        "http://a:99999/",
        "http://a:8o/",
        "http://256.1.1.1/",
        "http://1.2.3.4.5/",
        "http://09/",
        "http://[::1/",
        "http://[nope]/",
        "http://...",
    ],
)
def test_canonicalize_url_rejects(raw):
    with pytest.raises(InvalidValue) as exc:
        canonicalize_url(raw)
    assert str(exc.value).endswith(".")


def test_sb_expressions_example():
    assert url_expressions("http://a.b.c/1/2.html?param=1") == [
        "a.b.c/1/2.html?param=1",
        "a.b.c/1/2.html",
        "a.b.c/",
        "a.b.c/1/",
        "b.c/1/2.html?param=1",
        "b.c/1/2.html",
        "b.c/",
        "b.c/1/",
    ]


@pytest.mark.parametrize(
    "url, expressions",
    [
        (
            "http://a.b.c.d.e.f.g/1.html",
            [
                "a.b.c.d.e.f.g/1.html",
                "a.b.c.d.e.f.g/",
                "c.d.e.f.g/1.html",
                "c.d.e.f.g/",
                "d.e.f.g/1.html",
                "d.e.f.g/",
                "e.f.g/1.html",
                "e.f.g/",
                "f.g/1.html",
                "f.g/",
            ],
        ),
        ("http://1.2.3.4/1/", ["1.2.3.4/1/", "1.2.3.4/"]),
        ("http://a.b/", ["a.b/"]),
        ("http://localhost/x?", ["localhost/x?", "localhost/x", "localhost/"]),
        ("http://a.b.c:8080/1/", ["a.b.c/1/", "a.b.c/", "b.c/1/", "b.c/"]),
        ("http://[::1]/x", ["[::1]/x", "[::1]/"]),
    ],
)
def test_url_expressions(url, expressions):
    assert url_expressions(url) == expressions


def test_expressions_are_at_most_five_hosts_by_six_paths():
    exprs = url_expressions("http://a.b.c.d.e.f.g.h/1/2/3/4/5/6.html?q=1")
    assert len(exprs) == 30
    assert exprs[:6] == [
        "a.b.c.d.e.f.g.h/1/2/3/4/5/6.html?q=1",
        "a.b.c.d.e.f.g.h/1/2/3/4/5/6.html",
        "a.b.c.d.e.f.g.h/",
        "a.b.c.d.e.f.g.h/1/",
        "a.b.c.d.e.f.g.h/1/2/",
        "a.b.c.d.e.f.g.h/1/2/3/",
    ]
    assert exprs[-1] == "g.h/1/2/3/"
    assert len(set(exprs)) == 30


LONGEST_HOST = ".".join(["a" * 63] * 3 + ["b" * 57, "com"])  # 253 characters, labels of 63


def test_host_size_bounds_are_dns_bounds():
    assert len(LONGEST_HOST) == MAX_HOST_CHARS
    assert check_host_size(LONGEST_HOST) == LONGEST_HOST
    assert canonicalize_url(f"http://{LONGEST_HOST}/") == f"http://{LONGEST_HOST}/"
    for host, why in (
        (LONGEST_HOST.replace("b" * 57, "b" * 58), "at most 253 characters"),
        ("a." * 127 + "a", "at most 253 characters"),
        ("a" * 64 + ".com", "at most 63 characters"),
        ("中." * 200 + "com", "at most 253 characters"),
    ):
        with pytest.raises(InvalidValue, match=why):
            check_host_size(host)
        with pytest.raises(InvalidValue, match=why):
            canonicalize_url(f"http://{host}/")


@pytest.mark.parametrize(
    "raw",
    [
        "http://" + "a." * 32000 + "a",  # the filed attack: 32,000 labels
        "http://" + "a" * 64 + ".example.com/",  # one label too long
        "http://" + "%61%2E" * 127 + "com/",  # too long once unescaped
        "http://" + "中" * 60 + ".com/",  # punycode of the label over 63
        "http://" + "ａ．" * 200 + "com/",  # full-width, too long once folded
    ],
)
def test_canonicalize_url_refuses_hosts_dns_cannot_hold(raw):
    with pytest.raises(InvalidValue, match="host name"):
        canonicalize_url(raw)


def test_a_host_dns_cannot_hold_is_not_a_link_in_text():
    long_host = "a." * 200 + "com"
    text = f"看 {long_host}/x 和 http://{long_host}/y 或 ok.example.com/z"
    links = [raw for _, _, raw in find_urls(text)]
    assert "ok.example.com/z" in links
    for raw in links:  # the over-long one may be found, but is no canonical URL
        if raw != "ok.example.com/z":
            with pytest.raises(InvalidValue):
                canonicalize_url(raw)


@pytest.mark.parametrize(
    "host, suffixes",
    [
        ("a.b.c.d.e.f.g", ["a.b.c.d.e.f.g", "c.d.e.f.g", "d.e.f.g", "e.f.g", "f.g"]),
        ("a.b.c", ["a.b.c", "b.c"]),
        ("example.com", ["example.com"]),
        ("localhost", ["localhost"]),
        ("1.2.3.4", ["1.2.3.4"]),
        ("[::1]", ["[::1]"]),
        ("a." * 120 + "com", ["a." * 120 + "com", "a.a.a.a.com", "a.a.a.com", "a.a.com", "a.com"]),
    ],
)
def test_host_suffixes_are_the_safe_browsing_five(host, suffixes):
    assert host_suffixes(host) == suffixes


@pytest.mark.parametrize(
    "entry, url, matches",
    [
        ("evil.com", "http://www.evil.com/pay/now.html?id=7", True),
        ("http://evil.com/pay/", "https://a.evil.com:8443/pay/now", True),
        ("evil.com/pay/now", "http://evil.com/pay/now?x=1", True),
        ("evil.com/pay/now?x=1", "http://evil.com/pay/now", False),
        ("evil.com/pay", "http://evil.com/pay/now", False),  # "/pay" is not the prefix "/pay/"
        ("evil.com", "http://notevil.com/", False),
        ("1.2.3.4", "http://1.2.3.4/a/b", True),
        ("t.cn/A6x", "详见 T.CN/A6x", False),  # not a URL; use find_urls first
    ],
)
def test_url_expression_of_entry_matches_url(entry, url, matches):
    try:
        canonical_url = canonicalize_url(url)
    except InvalidValue:
        canonical_url = None
    got = canonical_url is not None and url_expression(canonicalize_url(entry)) in url_expressions(canonical_url)
    assert got is matches


@pytest.mark.parametrize(
    "canonical, host, expression",
    [
        ("http://www.example.com:8080/a?b", "www.example.com", "www.example.com/a?b"),
        ("https://195.127.0.11/", "195.127.0.11", "195.127.0.11/"),
        ("http://[::1]:81/x", "[::1]", "[::1]/x"),
    ],
)
def test_url_host_and_expression(canonical, host, expression):
    assert url_host(canonical) == host
    assert url_expression(canonical) == expression
    assert expression in url_expressions(canonical)


@pytest.mark.parametrize(
    "text, found",
    [
        ("点击http://x.cn/a领取", [(2, 15, "http://x.cn/a")]),
        ("详见t.cn/A6x，", [(2, 10, "t.cn/A6x")]),
        ("详见t.cn/A6x。谢谢", [(2, 10, "t.cn/A6x")]),
        ("evil。com/pay", [(0, 12, "evil。com/pay")]),
        ("点ｅｖｉｌ．ｃｏｍ／ｐａｙ领", [(1, 13, "ｅｖｉｌ．ｃｏｍ／ｐａｙ")]),
        ("请访问www.example.com/a?b=1.", [(3, 24, "www.example.com/a?b=1")]),
        ("(see bit.ly/abc)", [(5, 15, "bit.ly/abc")]),
        ("网址：t.cn/xx", [(3, 10, "t.cn/xx")]),
        ("HTTPS://X.CN", [(0, 12, "HTTPS://X.CN")]),
        ("wiki: https://en.wikipedia.org/wiki/Foo_(bar).", [(6, 45, "https://en.wikipedia.org/wiki/Foo_(bar)")]),
        ("a http://1.2.3.4:8080/x b", [(2, 23, "http://1.2.3.4:8080/x")]),
        ("two: a.com and https://b.org/x", [(5, 10, "a.com"), (15, 30, "https://b.org/x")]),
        ("example.com:8080/path", [(0, 21, "example.com:8080/path")]),
        # not links
        ("e.g. pi is 3.14, see file.txt", []),
        ("write to a@evil.com", []),
        ("http:// and https://", []),
        ("版本1.2.3", []),
        ("", []),
    ],
)
def test_find_urls(text, found):
    assert find_urls(text) == found
    for start, end, raw in found:
        assert text[start:end] == raw
        canonicalize_url(raw)  # every link found can be canonicalised


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
@example(".[")  # once canonicalised to "http://[/", which does not read back
@example("x.]")
def test_canonicalize_url_is_idempotent_and_raises_only_invalid_value(raw):
    try:
        canonical = canonicalize_url(raw)
    except InvalidValue:
        return
    assert canonicalize_url(canonical) == canonical
    assert canonical.isascii()
    assert url_expression(canonical) in url_expressions(canonical)


url_like = st.builds(
    lambda scheme, host, path: scheme + host + path,
    st.sampled_from(["", "http://", "https://", "HTTP://", "ftp://"]),
    st.from_regex(r"[a-zA-Z0-9.\-%@:]{1,20}", fullmatch=True),
    st.text(alphabet="/.%?#a1 \t中", max_size=20),
)


@settings(max_examples=200, deadline=None)
@given(url_like)
def test_url_like_inputs_are_idempotent(raw):
    try:
        canonical = canonicalize_url(raw)
    except InvalidValue:
        return
    assert canonicalize_url(canonical) == canonical
    assert url_expression(canonical) in url_expressions(canonical)
    assert len(url_expressions(canonical)) <= 30


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_find_urls_spans_index_the_original(text):
    for start, end, raw in find_urls(text):
        assert 0 <= start < end <= len(text)
        assert text[start:end] == raw


@pytest.mark.parametrize("raw", ["%¡21", "0%a中1", "http://a%21中.com/", "http://例子.中国/a%2521"])
def test_found_by_hypothesis_percent_escapes_beside_non_ascii_hosts(raw):
    """Once a non-idempotent canonical form: now refused, or stable."""
    try:
        once = canonicalize_url(raw)
    except InvalidValue:
        return
    assert canonicalize_url(once) == once
