"""What a run must never show, in one object: the secret, the wrong values derived from it, a URL's password.

Every front door masks through one :class:`Masking`: the engine's, or one made for a single command.
"""

from __future__ import annotations

import threading
import urllib.parse

from harness.config.secret import MIN_JUDGED_LENGTH, Secret, redact
from harness.payloads.deliveries import variant_values

__all__ = ["Masking"]


class Masking:
    """The set of values to mask, grown as the run learns them (the embedded receiver's secret comes later)."""

    def __init__(self, url: str | None = None, secret: Secret | None = None) -> None:
        self._lock = threading.Lock()
        self._values: list[Secret] = []
        self.cover(url, secret)

    def cover(self, url: str | None, secret: Secret | None) -> None:
        """Mask ``secret``, every wrong value the checks derive from it, and a password in ``url``."""
        found = [secret, *variant_values(secret)] if secret else []
        password = urllib.parse.urlsplit(url).password if url else None
        # Masking a short password everywhere would garble every line ("401", "AUTH-1").
        if password and len(password) >= MIN_JUDGED_LENGTH:
            found += [Secret(urllib.parse.unquote(password)), Secret(password)]
        with self._lock:
            self._values += [value for value in found if value not in self._values]

    @property
    def values(self) -> list[Secret]:
        with self._lock:
            return list(self._values)

    def __call__(self, text: str) -> str:
        """``text`` with every value masked, in every spelling :func:`harness.config.secret.redact` knows
        (:data:`harness.config.secret.ENCODINGS`)."""
        values = self.values
        return redact(text, values) if values else text

    def __bool__(self) -> bool:
        return bool(self.values)
