"""Settings: one table of options, resolved ini < environment < command line, bad values naming their source."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.settings import OPTIONS, SettingError, resolve

URL_INI, URL_ENV, URL_CLI = "https://ini.example.com/h", "https://env.example.com/h", "https://cli.example.com/h"

PRECEDENCE = [
    # (ini, env, cli, expected target)
    ({"target_url": URL_INI}, {}, {}, URL_INI),
    ({"target_url": URL_INI}, {"WEBHOOK_TARGET_URL": URL_ENV}, {}, URL_ENV),
    ({"target_url": URL_INI}, {"WEBHOOK_TARGET_URL": URL_ENV}, {"target_url": URL_CLI}, URL_CLI),
]


@pytest.mark.parametrize(("ini", "env", "cli", "expected"), PRECEDENCE)
def test_later_source_wins(ini: dict[str, str], env: dict[str, str], cli: dict[str, str], expected: str | None) -> None:
    assert resolve(ini, env, cli).target_url == expected


def test_secret_from_the_command_line_beats_a_secret_file_in_the_environment(tmp_path: Path) -> None:
    secret_file = tmp_path / "s"
    secret_file.write_text("from-the-file\n")
    settings = resolve({}, {"WEBHOOK_SECRET_FILE": str(secret_file)}, {"secret": "from-the-command-line"})
    assert settings.secret.reveal() == "from-the-command-line"
    assert settings.sources["secret"] == "command-line option --webhook-secret"


def test_secret_file_loses_one_trailing_newline_only(tmp_path: Path) -> None:
    secret_file = tmp_path / "s"
    secret_file.write_text("abc\n")
    assert resolve({}, {}, {"secret_file": str(secret_file)}).secret.reveal() == "abc"


BAD = [
    ({}, {"WEBHOOK_TIMEOUT": "soon"}, {}, "environment variable WEBHOOK_TIMEOUT: 'soon' is not a number"),
    ({}, {}, {"timeout": "30"}, "command-line option --webhook-timeout: '30' is out of range"),
    ({"target_url": "ftp://x"}, {}, {}, "ini setting webhook_target_url: 'ftp://x' is not an http"),
    ({}, {"WEBHOOK_TARGET_URL": "https://h.example.com:99999/"}, {}, "is not a usable URL: Port out of range"),
    ({}, {"WEBHOOK_TARGET_URL": "http://[::1/webhook"}, {}, "is not a usable URL: Invalid IPv6 URL"),
    ({}, {"WEBHOOK_TARGET_URL": "https://" + "a" * 64 + ".example.com/"}, {}, "is not a usable URL: .*label"),
    ({}, {"WEBHOOK_TARGET_URL": "http://exa mple.com/"}, {}, "is not a usable URL: .*invalid character"),
    ({}, {"WEBHOOK_TARGET_URL": "http://example.com:0/"}, {}, "has port 0"),
    ({}, {"WEBHOOK_TARGET_URL": ""}, {}, "environment variable WEBHOOK_TARGET_URL is set but empty"),
    ({}, {}, {"target_url": " "}, "command-line option --target-url is set but empty"),
    ({}, {"WEBHOOK_STRICT": "maybe"}, {}, "environment variable WEBHOOK_STRICT: 'maybe' is not a yes/no value"),
    ({}, {"WEBHOOK_SECRET": " padded"}, {}, "starts with white space"),
    ({}, {"WEBHOOK_SECRET": "padded "}, {}, "ends with white space"),
    ({}, {"WEBHOOK_SECRET": "x" * 141}, {}, "the Cloud stores at most 140"),
    ({}, {"WEBHOOK_SECRET": "caf\u20ac"}, {}, "outside Latin-1"),
    ({}, {"WEBHOOK_SECRET": "a", "WEBHOOK_SECRET_FILE": "/nowhere"}, {}, "are both set: give one"),
    ({}, {}, {"secret_file": "/nowhere/secret"}, "command-line option --webhook-secret-file: cannot read"),
    ({}, {"WEBHOOK_CA_BUNDLE": "/nowhere.pem"}, {}, "environment variable WEBHOOK_CA_BUNDLE: '/nowhere.pem' is not"),
]


@pytest.mark.parametrize(("ini", "env", "cli", "message"), BAD, ids=[b[3][:40] for b in BAD])
def test_bad_value_names_its_source(
    ini: dict[str, str], env: dict[str, str], cli: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingError, match=message.replace("(", r"\(").replace("?", r"\?")):
        resolve(ini, env, cli)


def test_secret_never_read_from_an_ini_file() -> None:
    assert next(o for o in OPTIONS if o.name == "secret").ini is None
    assert not resolve({"secret": "in-the-ini"}, {}, {}).secret


def test_settings_print_as_flags_with_the_secret_masked() -> None:
    settings = resolve(
        {}, {"WEBHOOK_SECRET": "hunter2-hunter2"}, {"target_url": URL_CLI, "timeout": "2", "strict": True}
    )
    flags = settings.as_flags()
    assert "hunter2" not in flags
    assert flags == (
        f"--target-url={URL_CLI} secret=[Filtered] (15 characters, from environment variable WEBHOOK_SECRET) "
        "--webhook-timeout=2 --webhook-strict"
    )


def test_command_line_switches_off_a_flag_set_in_the_environment() -> None:
    assert resolve({}, {"WEBHOOK_STRICT": "1"}, {}).strict is True
    assert resolve({}, {"WEBHOOK_STRICT": "1"}, {"strict": False}).strict is False
    assert resolve({"strict": "true"}, {}, {"strict": False}).strict is False


def test_two_secrets_in_the_environment_are_settled_by_the_command_line() -> None:
    env = {"WEBHOOK_SECRET": "from-the-environment", "WEBHOOK_SECRET_FILE": "/nowhere"}
    assert resolve({}, env, {"secret": "from-the-command-line"}).secret.reveal() == "from-the-command-line"


def test_flags_are_shell_quoted_to_paste_back() -> None:
    settings = resolve({}, {}, {"target_url": "https://r.example.com/web hook"})
    assert settings.as_flags().startswith("--target-url='https://r.example.com/web hook'")


def test_empty_environment_url_is_settled_by_the_command_line() -> None:
    assert resolve({}, {"WEBHOOK_TARGET_URL": ""}, {"target_url": URL_CLI}).target_url == URL_CLI
