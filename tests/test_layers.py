"""The layers point one way (README "Architecture"): knowledge uses nothing of ours; services use
knowledge; actions use knowledge and services, never the Rasa server's packages; only the command
line reaches into everything. Read from the source, so a new import that breaks a layer fails here."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

# package → the fanzha packages it must not import (knowledge: nothing of ours, nor Rasa)
FORBIDDEN = {
    "knowledge": ("bot", "actions", "rasa", "rasa_sdk"),
    "actions": ("bot.channels", "bot.rasa_patches", "bot.stores", "bot.cli"),
    "bot/services": ("bot.channels", "bot.rasa_patches", "bot.stores", "bot.cli", "actions"),
    "bot/stores": ("bot.channels", "bot.rasa_patches", "bot.cli", "actions"),
    "bot/rasa_patches": ("bot.channels", "bot.stores", "bot.cli", "actions"),
    "bot/channels": ("bot.cli", "bot.stores", "actions"),
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module and not node.level}
    found |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_each_layer_imports_only_the_layers_below_it(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    broken = [(path.relative_to(ROOT).as_posix(), module) for path in files for module in sorted(imported_modules(path))
              if any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN[package])]
    assert broken == []


def test_bot_has_one_folder_per_kind_and_no_loose_modules() -> None:
    loose = sorted(p.name for p in (ROOT / "bot").glob("*.py") if p.name != "__init__.py")
    assert loose == []
    folders = {p.name for p in (ROOT / "bot").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == {"channels", "cli", "domain", "rasa_patches", "services", "stores"}

