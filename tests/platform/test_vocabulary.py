"""One name, one type: a class name means one thing wherever a service can import it.

A service imports any library, so two libraries' classes of one name, or a service's
class named like a library's, put two meanings under one word in a single module (the
vendor ingestion service once imported its connector row as `Connector as ConnectorRow`
to tell it from the connector library's `Connector`). Services never import each other,
so each may have its own `Settings`, `Base` or `ScheduleRepository`.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The PSA client library reads a PSA's accounts, contracts and line items; psa_sync
# sends them on as messages of the same words. Always written `m.PsaContract` for the
# message (docs/architecture.md, glossary).
SAME_WORD_ACROSS_LAYERS = {
    "PsaAccount": {"trueup.psa.models", "trueup.contracts.messages"},
    "PsaContract": {"trueup.psa.models", "trueup.contracts.messages"},
    "PsaLineItem": {"trueup.psa.models", "trueup.contracts.messages"},
}


def _classes(folder: str) -> dict[str, set[str]]:
    """Public class name -> the modules (dotted) that define it, under `folder/*/src`."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted((ROOT / folder).glob("*/src/trueup/**/*.py")):
        src = next(p for p in path.parents if p.name == "src")
        module = ".".join(path.relative_to(src).with_suffix("").parts)
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                found[node.name].add(module)
    return found


def test_no_two_libraries_define_a_class_of_one_name() -> None:
    clashes = {
        name: sorted(modules)
        for name, modules in _classes("libs").items()
        if len(modules) > 1 and SAME_WORD_ACROSS_LAYERS.get(name) != modules
    }
    assert clashes == {}


def test_no_service_names_a_class_like_a_library_does() -> None:
    libraries = _classes("libs")
    clashes = {
        name: sorted(modules | libraries[name])
        for name, modules in _classes("services").items()
        if name in libraries
    }
    assert clashes == {}
