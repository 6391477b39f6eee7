"""The secret crosses no network in clear, through a proxy either: with the environment's proxies honoured
(--webhook-use-env-proxy), an http target is relayed by the proxy in clear, so a plain-http proxy on another
machine is refused as an http target on another machine is."""

from __future__ import annotations

import pytest

from harness.config.settings import SettingError, resolve
from harness.run.target import Opened, clear_hop
from harness.wire import transport

SECRET = "proxy-hop-secret-8d1f0c7a"
FAR_PROXY = "http://user:proxy-password@192.0.2.10:3128"  # TEST-NET: never connected to, refused before


def opened(url: str, *flags: str) -> Opened:
    cli: dict[str, str | bool | None] = {"target_url": url, **{flag: True for flag in flags}}
    return Opened(resolve({}, {"WEBHOOK_SECRET": SECRET}, cli))


@pytest.fixture
def far_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", FAR_PROXY)
    monkeypatch.setenv("HTTPS_PROXY", FAR_PROXY)


@pytest.mark.usefixtures("far_proxy")
def test_an_http_target_through_a_far_http_proxy_is_refused() -> None:
    with pytest.raises(SettingError) as refused:
        opened("http://127.0.0.1:9/webhook", "use_env_proxy")
    message = str(refused.value)
    assert "proxy 192.0.2.10" in message
    assert "in clear" in message
    assert "proxy-password" not in message
    assert "--webhook-allow-insecure-http" in message


@pytest.mark.usefixtures("far_proxy")
def test_the_proxy_hop_can_be_allowed_as_an_http_target_can() -> None:
    opened("http://127.0.0.1:9/webhook", "use_env_proxy", "allow_insecure_http").close()


@pytest.mark.usefixtures("far_proxy")
def test_an_https_target_is_tunnelled_through_the_proxy() -> None:
    opened("https://127.0.0.1:9/webhook", "use_env_proxy").close()


@pytest.mark.usefixtures("far_proxy")
def test_without_use_env_proxy_the_proxy_is_not_a_hop() -> None:
    opened("http://127.0.0.1:9/webhook").close()


@pytest.mark.parametrize(
    ("proxy", "refused"),
    [
        ("http://192.0.2.10:3128", True),
        ("192.0.2.10:3128", True),  # no scheme: requests takes it as http
        ("https://192.0.2.10:3128", False),  # TLS to the proxy itself
        ("http://127.0.0.1:3128", False),  # on this machine
    ],
)
def test_which_proxies_are_a_hop_in_clear(monkeypatch: pytest.MonkeyPatch, proxy: str, refused: bool) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    options = transport.Options(use_env_proxy=True)
    assert (clear_hop("http://127.0.0.1:9/webhook", options) is not None) == refused


def test_no_proxy_bypasses_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://192.0.2.10:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert clear_hop("http://127.0.0.1:9/webhook", transport.Options(use_env_proxy=True)) is None


@pytest.mark.parametrize(
    "proxy",
    ["http://127.0.0.1:3128", "https://192.0.2.10:3128", "socks5://192.0.2.10:1080"],
    ids=["loopback-proxy", "https-proxy", "socks-proxy"],
)
def test_a_far_http_target_is_in_clear_whatever_the_proxy(monkeypatch: pytest.MonkeyPatch, proxy: str) -> None:
    # The proxy relays an http target's request in plain text to the target: its own hop does not matter.
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    hop = clear_hop("http://198.51.100.7/webhook", transport.Options(use_env_proxy=True))
    assert hop == "the target is http://198.51.100.7, on another machine"


def test_a_socks_proxy_elsewhere_is_a_hop_in_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "socks5h://192.0.2.10:1080")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert clear_hop("http://127.0.0.1:9/webhook", transport.Options(use_env_proxy=True)) is not None
