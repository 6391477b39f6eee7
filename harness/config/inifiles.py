"""pytest's ini files, read as pytest reads them, so that ``webhook-conformance check`` honours the same ones.

pytest looks from the current directory upward and takes the first of ``pytest.ini``, ``.pytest.ini``,
``pyproject.toml`` with ``[tool.pytest.ini_options]``, ``tox.ini`` with ``[pytest]`` and ``setup.cfg`` with
``[tool:pytest]`` (a ``pytest.ini`` counts even when empty). From it, ``check`` takes the ``webhook_*``
settings and the options in ``addopts`` (and in ``PYTEST_ADDOPTS``), as pytest would.
"""

from __future__ import annotations

import configparser
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["IniFile", "find_ini", "read_ini"]


@dataclass(frozen=True)
class IniFile:
    """The settings of one ini file: its path, its keys, and the words of its ``addopts``."""

    path: Path | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    addopts: str = ""


def find_ini(start: Path) -> IniFile:
    """The ini file pytest would use for a run started in ``start``; an empty one when there is none."""
    for directory in (start.resolve(), *start.resolve().parents):
        for name in ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"):
            path = directory / name
            if path.is_file():
                found = read_ini(path)
                if found is not None:
                    return found
    return IniFile()


def read_ini(path: Path) -> IniFile | None:
    """The pytest settings of ``path``; None when the file has no pytest section (pytest looks further up).

    A file pytest cannot read either raises ValueError, naming the file."""
    try:
        if path.suffix == ".toml":
            with path.open("rb") as file:
                table = tomllib.load(file).get("tool", {}).get("pytest", {}).get("ini_options")
            if table is None:
                return None
            values = {key: _toml_text(value) for key, value in table.items()}
        else:
            parser = configparser.ConfigParser(interpolation=None)
            parser.read(path, encoding="utf-8")
            section = {"setup.cfg": "tool:pytest"}.get(path.name, "pytest")
            if not parser.has_section(section):
                return None if path.name in ("tox.ini", "setup.cfg") else IniFile(path)
            values = dict(parser.items(section))
    except (OSError, UnicodeDecodeError, configparser.Error, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read the ini file {str(path)!r}: {exc}") from None
    return IniFile(path, values, values.get("addopts", ""))


def _toml_text(value: object) -> str:
    # pyproject.toml may give addopts as a list of words, and flags as booleans.
    if isinstance(value, list):
        return shlex.join(str(word) for word in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
