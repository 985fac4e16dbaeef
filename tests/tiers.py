"""Test tiers from what a test uses, so that nobody marks hundreds of tests by hand.

A test is ``browser`` when it (or a fixture or helper it calls, followed through the test
helpers) drives Chromium, ``e2e`` when it starts the real assistant, the run command, a Rasa
server or the shared PostgreSQL/Redis, ``model`` when it loads the trained model or reads its
file (``tests.assistant.MODEL``: ``make test`` runs the unit tests while the model trains), in
the process or in a test module it runs as a program (``python -m tests.…``: followed into that
module's ``__main__`` block), and ``unit`` otherwise. The names are found in the source with ``ast``: a new test that starts
the assistant through ``tests.assistant.Assistant`` is tiered without anyone remembering to.
"""
from __future__ import annotations

import ast
import importlib.util
import inspect
import textwrap
from functools import lru_cache
from typing import Any, Callable, Iterable

TIERS = ("unit", "model", "e2e", "browser")
# What makes a test slow or needs the system packages, by where it comes from.
HEAVY_MODULES = {"tests.browser": "browser", "tests.shared_stores": "e2e", "tests.agents": "model"}
HEAVY_NAMES = {
    ("tests.assistant", "Assistant"): "e2e",
    ("tests.assistant", "MODEL"): "model",
    ("rasa.core.agent", "Agent"): "model",
}
# Strings in code (not docstrings), all in one definition: the run command, the rasa command
# line (ROOT / ".venv" / "bin" / "rasa").
HEAVY_STRINGS = {("scripts/run.sh",): "e2e", ("bin", "rasa"): "e2e"}


class _Module:
    """One module's top-level definitions and imports, by name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.definitions: dict[str, ast.AST] = {}
        self.imports: dict[str, tuple[str, str | None]] = {}
        self.main: ast.AST | None = None  # the `if __name__ == "__main__":` block: what `python -m` runs
        if not name.startswith("tests"):
            return
        spec = importlib.util.find_spec(name)
        path = spec.origin if spec else None
        if not path or not path.endswith(".py"):
            return
        with open(path, encoding="utf-8") as source:
            tree = ast.parse(source.read())
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.definitions[node.name] = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        self.definitions[target.id] = node
            elif isinstance(node, ast.If) and ast.unparse(node.test).replace("'", '"') == '__name__ == "__main__"':
                self.main = node
        # Imports anywhere in the module, also inside a function (imported where it is needed).
        for found in ast.walk(tree):
            if isinstance(found, ast.ImportFrom) and found.module and not found.level:
                for alias in found.names:
                    self.imports[alias.asname or alias.name] = (found.module, alias.name)
            elif isinstance(found, ast.Import):
                for alias in found.names:
                    self.imports[alias.asname or alias.name.split(".")[0]] = (alias.name, None)


@lru_cache(maxsize=None)
def _module(name: str) -> _Module:
    return _Module(name)


def _used(node: ast.AST) -> tuple[set[str], set[str]]:
    """The names a definition reads and the strings in its code, leaving out annotations and
    docstrings (a type hint or a sentence about the run command starts nothing)."""
    names: set[str] = set()
    strings: set[str] = set()
    skip: set[int] = set()
    for child in ast.walk(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for annotation in [child.returns, *(a.annotation for a in ast.walk(child.args) if isinstance(a, ast.arg))]:
                if annotation is not None:
                    skip.update(id(n) for n in ast.walk(annotation))
        if isinstance(child, ast.AnnAssign):
            skip.update(id(n) for n in ast.walk(child.annotation))
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)) and child.body:
            first = child.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.add(id(first.value))
    for child in ast.walk(node):
        if id(child) in skip:
            continue
        if isinstance(child, ast.Name):
            names.add(child.id)
        elif isinstance(child, ast.Constant) and isinstance(child.value, str):
            strings.add(child.value)
    return names, strings


def _tiers_of_node(module: str, node: ast.AST, seen: set[tuple[str, str]]) -> set[str]:
    names, strings = _used(node)
    found = {tier for needed, tier in HEAVY_STRINGS.items() if strings.issuperset(needed)}
    for name in names:
        found |= _tiers_of_name(module, name, seen)
    if "-m" in strings:  # a test module run as a program in a process of its own
        for program in sorted(s for s in strings if s.startswith("tests.")):
            found |= _tiers_of_program(program, seen)
    return found


def _tiers_of_program(module: str, seen: set[tuple[str, str]]) -> set[str]:
    if (module, "__main__") in seen:
        return set()
    seen.add((module, "__main__"))
    try:
        main = _module(module).main
    except (ImportError, SyntaxError, ValueError):  # a string that only looks like a module name
        return set()
    return _tiers_of_node(module, main, seen) if main is not None else set()


def _tiers_of_name(module: str, name: str, seen: set[tuple[str, str]]) -> set[str]:
    if (module, name) in seen or module == __name__:  # this module names the heavy things, uses none
        return set()
    seen.add((module, name))
    if module in HEAVY_MODULES:
        return {HEAVY_MODULES[module]}
    if (module, name) in HEAVY_NAMES:
        return {HEAVY_NAMES[(module, name)]}
    here = _module(module)
    if name in here.definitions:
        return _tiers_of_node(module, here.definitions[name], seen)
    if name in here.imports:
        source, attribute = here.imports[name]
        if source in HEAVY_MODULES:
            return {HEAVY_MODULES[source]}
        if attribute is not None:
            return _tiers_of_name(source, attribute, seen)
    return set()


def _tiers_of_function(function: Callable[..., Any], seen: set[tuple[str, str]]) -> set[str]:
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):  # built in, or made at run time
        return set()
    return _tiers_of_node(function.__module__, ast.parse(source), seen)


def tiers(test: Callable[..., Any], fixtures: Iterable[Callable[..., Any]] = ()) -> set[str]:
    """The tiers of a test function given the functions of the fixtures it uses (``unit`` alone
    when it uses nothing heavy)."""
    seen: set[tuple[str, str]] = set()
    found = _tiers_of_function(test, seen)
    for fixture in fixtures:
        found |= _tiers_of_function(fixture, seen)
    return found or {"unit"}
