"""The dashboard's endpoint rules (cloud-sender.md section 6), checked locally: one case per rule and quirk."""

from __future__ import annotations

import random
import string

import pytest

from harness.payloads.dashboard_url import dashboard_rejections

LONG_HOST = ".".join(["a" * 60] * 5) + ".com"  # 308 characters, every label valid

CASES = [
    # (url, a substring of one rejection, or None when the dashboard saves it)
    ("https://example.org/webhook", None),
    ("http://example.org:8080/hooks/cloud", None),  # http and ports are allowed
    ("HTTPS://Example.ORG/webhook", None),  # urlparse lower-cases the scheme, .hostname the host
    ("https://user:pw@example.org/x#frag", None),  # userinfo and fragments are not checked
    ("https://example.org/?", None),  # an empty query is no query
    ("ftp://example.org/x", "the scheme 'ftp' is not allowed"),
    ("example.org/webhook", "no network location"),
    ("example.org/webhook", "without a scheme"),
    ("//example.org/webhook", "without a scheme"),
    ("https://example.org/webhook?token=1", "query string ('?token=...')"),
    ("https://127.0.0.1/webhook", "127.0.0.1 is not a public IP address (loopback)"),
    ("https://10.0.0.5/", "10.0.0.5 is not a public IP address (private range)"),
    ("https://100.64.0.1/", "carrier-grade NAT"),  # CGNAT: not global, yet not private either
    ("https://169.254.169.254/", "link-local"),
    ("https://0.0.0.0/", "unspecified"),
    ("https://[::1]/", "::1 is not a public IP address (loopback)"),
    ("https://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 is not a public IP address"),  # named as written
    ("https://[2001:4860:4860::8888]/", None),  # a global IPv6 literal
    ("https://8.8.8.8/hook", None),
    ("https://127.1/", None),  # faithful quirk: not an IP to ipaddress, and a valid name by the label rule
    ("http://localhost:8000/webhook", "the host 'localhost' contains 'localhost', which the dashboard rejects"),
    ("https://LOCALHOST/", "contains 'localhost'"),
    ("https://api.localdomain.com/", "contains '.local'"),
    ("https://api.localdomain.com/", "plain substring test"),
    ("https://printer.local/", "the host 'printer.local' contains '.local'"),
    ("https://my_host.example.com/", "the host label 'my_host' is not a valid hostname label"),
    ("https://example.org./", "the host label '' (empty: a trailing dot"),
    ("https://a..example.org/", "(empty: a trailing dot or '..')"),
    ("https://-bad.example.org/", "the host label '-bad'"),
    ("https://bad-.example.org/", "the host label 'bad-'"),
    ("https://a." + "b" * 64 + ".com/", "(64 characters)"),
    ("https://a." + "b" * 63 + ".com/", None),  # 63 is the limit, not over it
    ("https://bücher.example/", "'xn--bcher-kva.example'"),
    (f"https://{LONG_HOST}/", f"{len(LONG_HOST)} characters; the dashboard allows at most 255"),
    ("https://example.org:99999/", None),  # the dashboard does not check the port (requests refuses it later)
    ("https://example.org:http/", None),
    ("http://:8080/", "no host name"),
    ("http://[::1/", "cannot parse"),
    ("", "no network location"),
    ("not a url", "no network location"),
]


@pytest.mark.parametrize(("url", "expected"), CASES)
def test_rule(url: str, expected: str | None) -> None:
    rejections = dashboard_rejections(url)
    if expected is None:
        assert rejections == []
    else:
        assert any(expected in sentence for sentence in rejections), rejections


def test_every_broken_rule_is_named_not_only_the_first() -> None:
    rejections = dashboard_rejections("ftp://my_host.localhost/x?a=1")
    assert len(rejections) == 4, rejections  # scheme, query, label, localhost


def test_a_query_value_is_never_echoed() -> None:
    (sentence,) = dashboard_rejections("https://example.org/hook?token=s3cr3t&bare-s3cr3t")
    assert "s3cr3t" not in sentence
    assert "'?token=...&...'" in sentence


ODD_INPUTS = [
    "https://[fe80::1%25eth0]/",
    "https://ex\u2028ample.org/",
    "https://ex\x00ample.org/",
    "https://\ud800.example/",
    "https://" + "x" * 5000 + "/",
    "http://[]/",
    "http://user@/",
    "https://exa\u2100mple.org/",  # NFKC-normalises to a '/': urlparse raises
    "\n\t https://example.org/ \r",
]


def _random_urls(count: int) -> list[str]:
    rng = random.Random(20240918)
    alphabet = string.printable + "üı\u2028\u0085[]%@:"
    return [
        rng.choice(["", "http://", "https://", "//"]) + "".join(rng.choices(alphabet, k=rng.randint(0, 40)))
        for _ in range(count)
    ]


def _assert_one_line_sentences(url: str) -> None:
    for sentence in dashboard_rejections(url):
        assert sentence.strip()
        assert sentence.splitlines() == [sentence], sentence


@pytest.mark.parametrize("url", [url for url, _ in CASES] + ODD_INPUTS)
def test_never_raises_and_every_sentence_is_one_line(url: str) -> None:
    _assert_one_line_sentences(url)


def test_never_raises_on_random_strings() -> None:
    for url in _random_urls(2000):
        _assert_one_line_sentences(url)
