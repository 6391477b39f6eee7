"""docs/design.md's map of the code is the tree: every module of harness/ is on it, and everything on it exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _mapped() -> set[str]:
    """The paths the Shape section's map names: ``harness/run/`` headers and the modules listed under each."""
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    block = text.split("## Shape", 1)[1].split("```", 2)[1]
    paths, folder = set(), None
    for line in block.splitlines():
        top = re.match(r"^(\S+)", line)
        if top:
            name = top.group(1)
            folder = name if name.endswith("/") else None
            paths.add(name)
        else:
            module = re.match(r"^\s+(\w+\.py)\b", line)
            if module and folder:
                paths.add(folder + module.group(1))
    return paths


def test_every_module_of_the_library_is_on_the_map() -> None:
    modules = {
        str(p.relative_to(ROOT))
        for p in (ROOT / "harness").rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py")
    }
    modules.add("harness/__init__.py")
    assert sorted(modules - _mapped()) == []


def test_everything_on_the_map_exists() -> None:
    assert sorted(p for p in _mapped() if not (ROOT / p).exists()) == []


def test_the_map_is_read() -> None:
    # The reader itself can fail: it finds modules under their folders, and the folders themselves.
    mapped = _mapped()
    assert {"harness/run/engine.py", "harness/config/settings.py", "harness/plugin.py", "harness/run/"} <= mapped
