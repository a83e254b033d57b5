"""From canonical values to what is probed: a domain's names are bounded (issue #12, item 1)."""

from __future__ import annotations

import pytest

from blocklist.values.canonical import domain_and_parents, protection_keys, registrable_domain


@pytest.mark.parametrize(
    "host, names",
    [
        ("a.b.example.com", ["a.b.example.com", "b.example.com", "example.com"]),
        ("example.com", ["example.com"]),
        # never above the registrable domain: a public suffix is never a domain entry
        (
            "a.b.c.d.e.example.co.uk",
            ["a.b.c.d.e.example.co.uk", "d.e.example.co.uk", "e.example.co.uk", "example.co.uk"],
        ),
        ("www.gov.cn", ["www.gov.cn"]),
        # the exact host and the Safe Browsing suffixes only, however deep
        (
            "x." * 120 + "evil.com",
            ["x." * 120 + "evil.com", "x.x.x.evil.com", "x.x.evil.com", "x.evil.com", "evil.com"],
        ),
        # no domain entry can be an IP address or a name under no public suffix
        ("1.2.3.4", []),
        ("[::1]", []),
        ("intranet.corp", []),
        ("co.uk", []),
    ],
)
def test_domain_and_parents_stop_at_the_registrable_domain_and_at_five(host, names):
    assert domain_and_parents(host) == names


def test_registrable_domain():
    assert registrable_domain("a.b.example.com.cn") == "example.com.cn"
    assert registrable_domain("com.cn") is None
    assert registrable_domain("a" * 300) is None


def test_protection_keys_of_a_deep_url_are_bounded():
    keys = protection_keys("url", "http://" + "a." * 120 + "example.com/", "CN")
    assert keys[0][0] == "url" and len(keys) == 1 + 5
    assert ("domain", "example.com") in keys
