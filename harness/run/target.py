"""The target of a conformance run (given, or the embedded receiver), its client, and the setup check."""

from __future__ import annotations

import urllib.parse

import urllib3

from harness.config.settings import SettingError, Settings
from harness.judging import doctor
from harness.judging.checks import sends_in_clear
from harness.payloads.events import VALIDATE
from harness.sending.client import Client, Target
from harness.wire import transport

__all__ = ["Opened", "clear_hop", "options_for", "refused_in_clear", "unreachable_message"]


def unreachable_message(target: Target, error: transport.TransportError) -> str:
    """What to tell a user whose target cannot be reached: the problem, then a hint."""
    hint = doctor.setup_hint(error)
    return f"cannot reach the target {target.description}: {error.kind}: {error.detail}\nhint: {hint}".rstrip()


def clear_hop(url: str, options: transport.Options) -> str | None:
    """Where a request to ``url`` would cross a network unencrypted, in words; None when it never does.

    An http target is sent in clear all the way: to the target itself and, with the environment's proxies
    honoured, to the proxy too, unless the proxy is reached over TLS or on this machine (only an https target
    is tunnelled through a proxy encrypted). A SOCKS proxy relays the same plain text."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http":
        return None
    if sends_in_clear(url):
        return f"the target is http://{parts.hostname}, on another machine"
    proxy = options.proxy_for(url)
    if proxy is None:
        return None
    proxy_parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if proxy_parts.scheme == "https" or not sends_in_clear(f"http://{proxy_parts.netloc}"):
        return None
    # Only the proxy's host: its URL may hold a password.
    return f"the target is http and sent through the proxy {proxy_parts.hostname}, on another machine"


def options_for(settings: Settings) -> transport.Options:
    """How the run's requests go: its timeout, certificate checks and proxies."""
    return transport.Options(
        timeout=settings.timeout,
        verify=False if settings.insecure else settings.ca_bundle or True,
        use_env_proxy=settings.use_env_proxy,
    )


def refused_in_clear(url: str, with_secret: bool, settings: Settings, options: transport.Options) -> str | None:
    """Why a run on ``url`` is refused (its secret would cross a network in clear); None when it is not."""
    hop = clear_hop(url, options)
    if hop and with_secret and not settings.allow_insecure_http:
        return (
            f"{hop}: the secret would cross the network in clear. "
            "Use an https URL, or pass --webhook-allow-insecure-http to send it anyway"
        )
    return None


class Opened:
    """The target of a run, opened: how to reach it, and the embedded receiver started when no URL is given."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        url = settings.target_url
        if settings.insecure:
            # The banner in the header and every report says it once; a warning per request would bury the results.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self.options = options_for(settings)
        refusal = refused_in_clear(url, bool(settings.secret), settings, self.options) if url else None
        if refusal is not None:
            raise SettingError(refusal)
        self._embedded = None
        if settings.target_url:
            self.target = Target(settings.target_url, settings.secret)
        else:
            from harness.sending.embedded import EmbeddedReceiver  # only a run without a target needs Flask

            self._embedded = EmbeddedReceiver()
            self.target = self._embedded.target
        self.client = Client(self.target, self.options)

    def unreachable(self) -> str | None:
        """Why the Cloud could not deliver to the target at all, with a hint; None when it could."""
        error = transport.probe(self.target.url, self.options)
        if error is None or error.kind in ("read-timeout", "deadline"):
            return None  # it accepts connections: a slow or silent answer is for the checks to judge
        if error.kind == "protocol":
            # Some receivers drop a GET they do not serve: ask as the Cloud does before blaming the setup.
            # Sent directly, not through the client: a probe, not an exchange the checks judge.
            handshake = transport.send(self.client.delivery(VALIDATE), self.options)
            if handshake.error is None or handshake.error.kind != "protocol":
                return None
        return unreachable_message(self.target, error)

    def close(self) -> None:
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None
