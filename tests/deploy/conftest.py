"""Fixtures for the deployment checks: rendered kustomize overlays, compose, schemas.

Everything here is offline: kustomize output comes from the small renderer in
kustomize_subset.py, Kubernetes schemas from the kubernetes-validate wheel, CRD schemas
from crd_schemas/, and the compose-spec schema from the check-jsonschema wheel.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import referencing
import yaml
from referencing.jsonschema import DRAFT202012

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "prod")
HERE = Path(__file__).resolve().parent
CRD_SCHEMA_BASE = "https://schemas.trueup.invalid/crd/"

Doc = dict[str, Any]


def _load_sibling(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"trueup_deploy_tests_{name}", HERE / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


kustomize_subset = _load_sibling("kustomize_subset")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@cache
def _render(overlay: str) -> tuple[Doc, ...]:
    return tuple(kustomize_subset.render(K8S / "overlays" / overlay))


@pytest.fixture(scope="session")
def render() -> Callable[[str], list[Doc]]:
    """Render an overlay (cached); each call returns fresh copies."""

    def _fresh(overlay: str) -> list[Doc]:
        return json.loads(json.dumps(_render(overlay)))

    return _fresh


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def docs(render: Callable[[str], list[Doc]], overlay: str) -> list[Doc]:
    return render(overlay)


class Objects:
    """Index over rendered objects."""

    def __init__(self, docs: list[Doc]) -> None:
        self.docs = docs

    def of_kind(self, kind: str) -> list[Doc]:
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind: str, name: str) -> Doc | None:
        for doc in self.of_kind(kind):
            if doc["metadata"]["name"] == name:
                return doc
        return None

    def secret_keys(self, name: str) -> set[str] | None:
        """Keys a Secret will have, whether declared directly or by an ExternalSecret."""
        secret = self.get("Secret", name)
        if secret is not None:
            return set(secret.get("data", {})) | set(secret.get("stringData", {}))
        for external in self.of_kind("ExternalSecret"):
            target = external["spec"]["target"]
            if target.get("name", external["metadata"]["name"]) == name:
                template = target.get("template", {}).get("data")
                if template:
                    return set(template)
                return {item["secretKey"] for item in external["spec"].get("data", [])}
        return None


@pytest.fixture
def objects(docs: list[Doc]) -> Objects:
    return Objects(docs)


def _selector_matches(selector: Doc, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions)."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


@pytest.fixture(scope="session")
def selector_matches() -> Callable[[Doc, dict[str, str]], bool]:
    return _selector_matches


@cache
def crd_registry() -> tuple[referencing.Registry, dict[tuple[str, str], Doc]]:
    registry: referencing.Registry = referencing.Registry()
    schemas: dict[tuple[str, str], Doc] = {}
    for path in sorted((HERE / "crd_schemas").glob("*.yaml")):
        schema = yaml.safe_load(path.read_text())
        schema["$id"] = CRD_SCHEMA_BASE + path.name
        registry = registry.with_resource(
            schema["$id"], referencing.Resource.from_contents(schema, DRAFT202012)
        )
        if path.name.startswith("_"):
            continue
        group, version, kind = path.stem.split("_")
        schemas[(f"{group}/{version}", kind)] = schema
    return registry, schemas


def _crd_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
    registry, schemas = crd_registry()
    schema = schemas.get((api_version, kind))
    if schema is None:
        return None
    return jsonschema.Draft202012Validator(schema, registry=registry)


@pytest.fixture(scope="session")
def crd_validator() -> Callable[[str, str], jsonschema.protocols.Validator | None]:
    """The CRD subset schema for (apiVersion, kind), or None when there is none."""
    return _crd_validator


@pytest.fixture(scope="session")
def compose() -> Doc:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())
