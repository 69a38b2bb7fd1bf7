"""The layer table in ``aicore_bulk``'s docstring holds: no module imports from above it.

The table is read from the docstring itself, so the picture and the rule cannot drift apart.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import aicore_bulk

SOURCE = Path(aicore_bulk.__file__).parent
#: Packages of layer 4, each held to what it may import besides itself.
OWN_RULES = {
    # The command line is a user of the library like any other: public names only.
    "_cli": ("aicore_bulk", "aicore_bulk.testing"),
    # The simulator follows the contract, not our client: it shares only the clock.
    "_simulator": ("aicore_bulk._clock",),
    # Prefect and Airflow adapters are users of the library too: public names only.
    "integrations": ("aicore_bulk",),
}


def layer_table() -> dict[str, int]:
    """Each module's layer, as the table in ``aicore_bulk.__doc__`` draws it."""
    layers: dict[str, int] = {}
    current = None
    for line in (aicore_bulk.__doc__ or "").splitlines():
        row = re.match(r"\| (\d+)? *\| (.*) \|$", line)
        if row is None:
            continue
        if row.group(1) is not None:
            current = int(row.group(1))
        for name in re.findall(r"``(\w+)``", row.group(2)):
            if name.startswith("_") or name in {"testing", "integrations"}:
                layers[name] = current
    return layers


def top_module(path: Path) -> str:
    """The first name under ``aicore_bulk`` that ``path`` belongs to (``_cli``, ``_api``...)."""
    return path.relative_to(SOURCE).parts[0].removesuffix(".py")


def imports(path: Path) -> list[str]:
    """Every ``aicore_bulk`` module or name the file imports, dotted."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return [name for name in found if name.split(".")[0] == "aicore_bulk"]


SOURCES = sorted(
    path for path in SOURCE.rglob("*.py") if path.name not in {"__init__.py", "__main__.py"}
)


def test_every_module_is_in_the_table():
    """Each private module of the package has a layer in the docstring's table."""
    table = layer_table()
    assert {top_module(path) for path in SOURCES} <= set(table)
    assert table["_models"] == 0
    assert table["_cli"] == 4


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(SOURCE)))
def test_no_module_imports_from_a_layer_above_it(path):
    """A module imports only from its own layer and those below it."""
    table = layer_table()
    home = top_module(path)
    for name in imports(path):
        parts = name.split(".")
        target = parts[1] if len(parts) > 1 else None
        if target == home:
            continue
        if home in OWN_RULES:
            assert name in OWN_RULES[home], f"{home} may not import {name}"
            continue
        # The package's top level re-exports everything: only layer 4 may use it.
        layer = table[target] if target is not None else 4
        assert layer <= table[home], f"{home} (layer {table[home]}) imports {name} (layer {layer})"


def test_the_pure_modules_import_no_io():
    """The planner and the per-item state machine import nothing that sends or sleeps."""
    for module in ("_planner.py", "_transitions.py"):
        allowed = {"aicore_bulk._errors", "aicore_bulk._models", "aicore_bulk._planner"}
        assert set(imports(SOURCE / module)) <= allowed, module
        tree = ast.parse((SOURCE / module).read_text(encoding="utf-8"))
        names = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in (node.names if isinstance(node, ast.Import) else [])
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        }
        assert not names & {"asyncio", "anyio", "aiohttp", "time", "socket"}, module
