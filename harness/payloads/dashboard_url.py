"""Which of the Cloud dashboard's endpoint rules a webhook URL breaks, checked locally before saving.

Mirrors ``PressWebhook.validate_endpoint_url_format`` (frappe/press ``press/press/doctype/press_webhook/
press_webhook.py``) and ``is_valid_hostname`` (``press/utils/__init__.py``), as cloud-sender.md section 6
describes them. The dashboard stops at the first failure; this names every rule broken. Faithful, quirks
included: no DNS lookup (a public name for a private address passes); the localhost rule is a substring
test (``api.localdomain.com`` fails; ``developer_mode``, which skips it, is not modelled); the port is not
checked (``:99999`` saves, then requests refuses it); ``127.1`` is no IP literal to ``ipaddress`` and passes
the label rule; ``is_global`` is this interpreter's, and its answers move between Python releases.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlparse

__all__ = ["dashboard_rejections", "unsaveable"]

SCHEMES = ("http", "https")
# Compiled exactly as the sender does (re.match, "$", no re.ASCII), so its Unicode corners match too.
LABEL = re.compile(r"(?!-)[A-Z\d-]{1,63}(?<!-)$", re.IGNORECASE)
MAX_HOST_LENGTH = 255
LOCAL_SUBSTRINGS = ("localhost", ".local")
# Names that really are local; any other host caught by the substring test gets the "crude" remark.
LOCAL_NAMES = ("localhost", ".localhost", ".local")
CGNAT = ipaddress.ip_network("100.64.0.0/10")
# Why an address is not global: the first property that holds is named.
NOT_GLOBAL_REASONS = (
    ("is_unspecified", "unspecified address"),
    ("is_loopback", "loopback"),
    ("is_link_local", "link-local"),
    ("is_multicast", "multicast"),
    ("is_private", "private range"),
    ("is_reserved", "reserved range"),
)
_GLOBAL_ONLY = "the Cloud only delivers to globally routable addresses"
LABEL_RULE = "letters, digits and hyphens, 1-63 characters, not starting or ending with a hyphen"


def _show(text: str, limit: int = 60) -> str:
    """Quote user text on one line (repr escapes control and line-separator characters), shortened."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _query_shape(query: str) -> str:
    # Keys only: a query string often carries a token, and a warning must not echo it.
    return "?" + "&".join(part.split("=", 1)[0] + "=..." if "=" in part else "..." for part in query.split("&"))


def _ip_rejection(host: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if ip.is_global:
        return None
    if ip.version == 4 and ip in CGNAT:
        reason = "shared address space 100.64.0.0/10, carrier-grade NAT"
    else:
        reason = next((why for attr, why in NOT_GLOBAL_REASONS if getattr(ip, attr)), "not globally routable")
    shown = host if host.isprintable() else _show(host)  # as written; a zone id can hold any character
    return f"the host {shown} is not a public IP address ({reason}); {_GLOBAL_ONLY}"


def _label_rejection(host: str) -> str | None:
    bad = [label for label in host.split(".") if not LABEL.match(label)]
    if not bad:
        return None
    named = ", ".join(
        "'' (empty: a trailing dot or '..')" if not b else _show(b) + (f" ({len(b)} characters)" if len(b) > 63 else "")
        for b in bad
    )
    one = len(bad) == 1
    sentence = (
        f"the host label{'' if one else 's'} {named} {'is' if one else 'are'} not "
        f"{'a valid hostname label' if one else 'valid hostname labels'} ({LABEL_RULE})"
    )
    if not host.isascii():
        try:
            sentence += f"; write the name in its punycode form, {_show(host.encode('idna').decode('ascii'))}"
        except UnicodeError:  # not encodable as IDNA at all
            sentence += "; write a non-ASCII name in its punycode (xn--) form"
    return sentence


def _local_rejection(host: str) -> str | None:
    found = next((s for s in LOCAL_SUBSTRINGS if s in host), None)
    if found is None:
        return None
    sentence = (
        f"the host {_show(host)} contains {found!r}, which the dashboard rejects "
        "(it refuses any host containing 'localhost' or '.local'"
    )
    if not (host == LOCAL_NAMES[0] or host.endswith(LOCAL_NAMES[1:])):
        sentence += "; a plain substring test, so it catches this name even if it is public"
    return sentence + ")"


def unsaveable(url: str) -> list[str]:
    """The rules ``url`` breaks wherever its receiver runs: no parse, no host part, a scheme other than http(s),
    a query string. The host's rules are left out: the host of a test run is often not the registered one."""
    try:
        parts = urlparse(url)
    except ValueError:  # an unclosed '[' or a netloc that NFKC-normalises to '/', '?', '#', '@' or ':'
        return ["Python's urlparse cannot parse this URL, so the dashboard cannot save it"]
    found: list[str] = []
    if not parts.netloc:
        found.append("the dashboard rejects a URL with no network location: there is no '//host' part")
    if parts.scheme not in SCHEMES:
        shown = f"the scheme {_show(parts.scheme)} is" if parts.scheme else "a URL without a scheme is"
        found.append(f"{shown} not allowed; the dashboard accepts only http:// and https://")
    if parts.query:
        shape = _show(_query_shape(parts.query))
        found.append(f"the dashboard rejects URLs with a query string ({shape}); move it into the path or the secret")
    return found


def dashboard_rejections(url: str) -> list[str]:
    """One sentence per dashboard rule ``url`` breaks; empty if the dashboard would save it. Never raises."""
    found = unsaveable(url)
    try:
        parts = urlparse(url)
    except ValueError:
        return found
    if not parts.netloc:
        return found
    host = parts.hostname  # lower-cased, brackets, userinfo and port removed, as the sender sees it
    if not host:
        # The sender passes None on to is_valid_hostname, which fails, so the save fails.
        return [*found, "the URL has no host name after '//', so the dashboard cannot save it"]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if len(host) > MAX_HOST_LENGTH:
            found.append(f"the host name is {len(host)} characters; the dashboard allows at most {MAX_HOST_LENGTH}")
        found.extend(r for r in (_label_rejection(host), _local_rejection(host)) if r)
        return found
    return [*found, *filter(None, [_ip_rejection(host, ip)])]
