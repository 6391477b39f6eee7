"""The package's metadata, as a published tool's: one version, the licence, Python classifiers, project URLs
and a changelog."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

import harness
from harness.cli import main

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "cloud-webhook-conformance"
#: Where the version is written: the one module the build backend reads it from.
VERSION_MODULE = ROOT / "harness" / "__init__.py"


def _project() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return dict(tomllib.load(file))


def _metadata() -> dict[str, object]:
    project = _project()["project"]
    assert isinstance(project, dict)
    return project


def _version_assignments(path: Path) -> list[ast.Assign]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets)
    ]


def test_the_version_is_written_once_in_harness() -> None:
    metadata = _metadata()
    assert "version" not in metadata
    assert metadata["dynamic"] == ["version"]
    tool = _project()["tool"]
    assert isinstance(tool, dict)
    assert tool["setuptools"]["dynamic"]["version"] == {"attr": "harness.__version__"}
    # A literal, which setuptools reads without importing the package (and its dependencies).
    (assignment,) = _version_assignments(VERSION_MODULE)
    assert isinstance(assignment.value, ast.Constant)
    assert assignment.value.value == harness.__version__
    packages = ("harness", "conformance_tests", "reference_receiver")
    shipped = [path for package in packages for path in (ROOT / package).rglob("*.py")]
    assert [p for p in shipped if p != VERSION_MODULE and _version_assignments(p)] == []


def test_the_installed_metadata_and_the_command_say_that_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert importlib.metadata.version(DISTRIBUTION) == harness.__version__
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out == f"webhook-conformance {harness.__version__}\n"


def test_the_licence_is_mit_as_the_metadata_says() -> None:
    metadata = _metadata()
    assert metadata["license"] == "MIT"
    assert metadata["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) ")
    assert "Permission is hereby granted, free of charge, to any person obtaining a copy" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text
    # An SPDX expression and a licence classifier together are refused by the build backend (PEP 639).
    assert not [c for c in _classifiers() if c.startswith("License ::")]


def _classifiers() -> list[str]:
    classifiers = _metadata()["classifiers"]
    assert isinstance(classifiers, list)
    return [str(c) for c in classifiers]


def _classified_pythons() -> list[tuple[int, int]]:
    found = [re.fullmatch(r"Programming Language :: Python :: (3)\.(\d+)", c) for c in _classifiers()]
    return sorted((int(m.group(1)), int(m.group(2))) for m in found if m)


def test_the_python_classifiers_cover_requires_python() -> None:
    required = SpecifierSet(str(_metadata()["requires-python"]))
    pythons = _classified_pythons()
    assert pythons
    assert "Programming Language :: Python :: 3 :: Only" in _classifiers()
    # From the oldest Python requires-python allows, each minor version up to the newest claimed, none left out.
    oldest = min(minor for minor in range(30) if f"3.{minor}" in required)
    assert pythons == [(3, minor) for minor in range(oldest, pythons[-1][1] + 1)]
    assert all(f"{major}.{minor}" in required for major, minor in pythons)


def test_the_python_running_the_tests_is_one_the_classifiers_claim() -> None:
    assert sys.version_info[:2] in _classified_pythons()


def test_the_project_urls_are_given() -> None:
    urls = _metadata()["urls"]
    assert isinstance(urls, dict)
    assert set(urls) == {"Homepage", "Documentation", "Changelog", "Issues"}
    homepage = urls["Homepage"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", homepage)
    assert all(url.startswith(homepage) for url in urls.values())
    assert urls["Changelog"].endswith("/CHANGELOG.md")
    assert urls["Issues"] == f"{homepage}/issues"


def _changelog_headings() -> list[str]:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    return re.findall(r"^## \[([^\]]+)\]", text, flags=re.MULTILINE)


def test_the_changelog_has_an_entry_for_this_version_or_unreleased() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n")
    assert "[Keep a Changelog](https://keepachangelog.com/" in text
    headings = _changelog_headings()
    assert headings
    assert headings[0] in ("Unreleased", harness.__version__)
    # Each heading links somewhere, as Keep a Changelog's do.
    for heading in headings:
        assert re.search(rf"^\[{re.escape(heading)}\]: https://", text, flags=re.MULTILINE), heading
