"""The reference receiver's settings never show a secret: not the secrets, not a database password in WEBHOOK_INBOX.

A ``Config`` ends up in tracebacks (pytest's ``-l``, a debugger, an error report), in log lines and in f-strings;
what it shows there must be safe to paste into an issue.
"""

from __future__ import annotations

import pytest

from reference_receiver.config import _PARSERS, VARIABLES, Config

SECRET = "Cfg0secret0that0must0stay0hidden"
OLD_SECRET = "Cfg0old0secret0being0rotated0out"
PASSWORD = "Db0pass0word0never0shown"


def shown(config: Config) -> list[str]:
    """Every way a config is commonly turned into text."""
    return [repr(config), str(config), f"{config}", f"{config!r}", "%s" % (config,), repr([config])]  # noqa: UP031


def test_neither_secret_is_shown() -> None:
    config = Config(secret=SECRET, previous_secret=OLD_SECRET)
    for text in shown(config):
        assert SECRET not in text
        assert OLD_SECRET not in text
        assert "[Filtered]" in text  # it says that a secret is set, not what it is


def test_the_rest_of_the_settings_is_still_shown() -> None:
    text = repr(Config(secret=SECRET, inbox="/var/lib/hooks/inbox.sqlite3", max_body_bytes=1234))
    assert text.startswith("Config(")
    assert "'/var/lib/hooks/inbox.sqlite3'" in text
    assert "max_body_bytes=1234" in text


def test_an_empty_secret_shows_as_empty() -> None:
    assert "secret=''" in repr(Config(secret=""))  # a webhook without a secret: nothing to hide, and worth seeing


@pytest.mark.parametrize(
    "inbox",
    [
        f"postgresql://hooks:{PASSWORD}@db.example.com:5432/hooks",
        f"postgres://hooks:{PASSWORD}@db.example.com/hooks?sslmode=require",
        f"postgresql://hooks:{PASSWORD}@[::1]/hooks",
        f"postgresql://db.example.com/hooks?user=hooks&password={PASSWORD}",
        f"postgresql://hooks:{PASSWORD[:6]}/{PASSWORD[6:]}@db.example.com/hooks",  # a '/' left unencoded in it
    ],
    ids=["postgresql", "postgres-with-query", "ipv6-host", "password-parameter", "unencoded-slash"],
)
def test_a_database_password_in_the_inbox_url_is_not_shown(inbox: str) -> None:
    config = Config(secret=SECRET, inbox=inbox)
    for text in shown(config):
        assert PASSWORD not in text
        assert PASSWORD[6:] not in text
        assert "db.example.com" in text or "[::1]" in text  # where the inbox is stays visible
    assert config.inbox == inbox  # the setting itself is intact: the inbox must still open


def test_a_config_read_from_the_environment_shows_no_secret() -> None:
    env = {
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_SECRET_PREVIOUS": OLD_SECRET,
        "WEBHOOK_INBOX": f"postgresql://hooks:{PASSWORD}@db.example.com/hooks",
    }
    text = repr(Config.from_env(env))
    assert not any(value in text for value in (SECRET, OLD_SECRET, PASSWORD))


@pytest.mark.parametrize(
    "text", ["webhook-inbox.sqlite3", "/srv/a:b@c.sqlite3", ":memory:", "postgresql://hooks@db.example.com/hooks"]
)
def test_what_has_no_password_is_shown_as_it_is(text: str) -> None:
    from reference_receiver.config import redact_url

    assert redact_url(text) == text
    assert Config(secret=SECRET, inbox=text).inbox_shown == text


def test_the_inbox_as_it_may_be_logged_has_no_password() -> None:
    config = Config(secret=SECRET, inbox=f"postgresql://hooks:{PASSWORD}@db.example.com/hooks")
    assert config.inbox_shown == "postgresql://hooks:[Filtered]@db.example.com/hooks"


def test_the_inbox_variable_says_it_takes_a_postgresql_url() -> None:
    assert "a SQLite file path or a postgresql:// URL" in VARIABLES["inbox"][1]
    assert _PARSERS["inbox"][1] == "a SQLite file path or a postgresql:// URL"
