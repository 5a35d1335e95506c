"""Render a kustomization offline, for the subset of kustomize that deploy/k8s uses.

No kustomize binary ships on PyPI for our Python, and the tests must run without
network or cluster, so this renders the features our kustomizations use and refuses
every other one (so a new feature cannot be silently ignored):

- ``resources``: files (multi-document YAML) and directories holding a kustomization;
- ``namespace``: set on every namespaced object;
- ``labels``: ``pairs`` added to ``metadata.labels`` (only ``includeSelectors: false``);
- ``images``: ``newName`` / ``newTag`` on containers and init containers of pod templates;
- ``patches``: strategic-merge patches (lists of objects that all carry a ``name`` merge
  by name, other lists are replaced, ``null`` deletes a key, ``$patch: delete|replace``)
  and JSON 6902 patches (``add``, ``remove``, ``replace``), matched by ``target``
  (``group``, ``version``, ``kind``, ``name`` as a regular expression, ``labelSelector``
  with equality terms) or, for a strategic-merge patch, by its own kind and name;
- ``configMapGenerator``: ``files`` and ``literals``, with ``disableNameSuffixHash: true``.

A patch or image entry that matches nothing is an error here (kustomize tolerates some
of those), which keeps the overlays honest.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]

_KUSTOMIZATION_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "images",
    "patches",
    "configMapGenerator",
}
_CLUSTER_SCOPED_KINDS = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "ClusterSecretStore",
    "ClusterIssuer",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
}
_POD_TEMPLATE_PATHS = (
    ("spec", "template", "spec"),  # Deployment, StatefulSet, DaemonSet, Job
    ("spec", "jobTemplate", "spec", "template", "spec"),  # CronJob
)


class KustomizeError(ValueError):
    """The kustomization uses something this renderer does not support, or is wrong."""


def render(directory: Path) -> list[Doc]:
    """Render the kustomization in ``directory`` into a list of Kubernetes objects."""
    directory = directory.resolve()
    kustomization = _load_kustomization(directory)
    docs: list[Doc] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            docs.extend(render(path))
        elif path.is_file():
            docs.extend(_load_documents(path))
        else:
            raise KustomizeError(f"{directory}: resource {entry!r} does not exist")
    for generator in kustomization.get("configMapGenerator", []):
        docs.append(_generate_config_map(directory, generator))
    for patch in kustomization.get("patches", []):
        docs = _apply_patch(directory, docs, patch)
    if "namespace" in kustomization:
        for doc in docs:
            if doc["kind"] not in _CLUSTER_SCOPED_KINDS:
                doc.setdefault("metadata", {})["namespace"] = kustomization["namespace"]
    for label_entry in kustomization.get("labels", []):
        _apply_labels(label_entry, docs)
    for image in kustomization.get("images", []):
        _apply_image(image, docs)
    _check_unique(docs)
    return docs


def _load_kustomization(directory: Path) -> Doc:
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise KustomizeError(f"{directory} has no kustomization.yaml")
    kustomization = yaml.safe_load(path.read_text())
    unknown = set(kustomization) - _KUSTOMIZATION_KEYS
    if unknown:
        raise KustomizeError(f"{path}: unsupported fields {sorted(unknown)}")
    return kustomization


def _load_documents(path: Path) -> list[Doc]:
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    for doc in docs:
        if not isinstance(doc, dict) or not {"apiVersion", "kind", "metadata"} <= set(doc):
            raise KustomizeError(f"{path}: every document needs apiVersion, kind and metadata")
    return docs


def _inside(directory: Path, relative: str) -> Path:
    # kustomize's default load restrictions: generator files stay inside the kustomization.
    path = (directory / relative).resolve()
    if directory not in path.parents:
        raise KustomizeError(f"{directory}: {relative!r} is outside the kustomization root")
    return path


def _generate_config_map(directory: Path, generator: Doc) -> Doc:
    unknown = set(generator) - {"name", "files", "literals", "options"}
    if unknown:
        raise KustomizeError(f"configMapGenerator: unsupported fields {sorted(unknown)}")
    options = generator.get("options", {})
    if options.get("disableNameSuffixHash") is not True:
        raise KustomizeError("configMapGenerator: only disableNameSuffixHash: true is supported")
    data: dict[str, str] = {}
    for entry in generator.get("files", []):
        key, _, relative = entry.rpartition("=") if "=" in entry else ("", "", entry)
        path = _inside(directory, relative)
        data[key or path.name] = path.read_text()
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    metadata: Doc = {"name": generator["name"]}
    if options.get("labels"):
        metadata["labels"] = dict(options["labels"])
    if options.get("annotations"):
        metadata["annotations"] = dict(options["annotations"])
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def _apply_patch(directory: Path, docs: list[Doc], entry: Doc) -> list[Doc]:
    unknown = set(entry) - {"path", "patch", "target"}
    if unknown:
        raise KustomizeError(f"patches: unsupported fields {sorted(unknown)}")
    if ("path" in entry) == ("patch" in entry):
        raise KustomizeError("patches: give exactly one of path and patch")
    text = _inside(directory, entry["path"]).read_text() if "path" in entry else entry["patch"]
    body = yaml.safe_load(text)
    target = entry.get("target")
    if isinstance(body, list):
        if target is None:
            raise KustomizeError(f"patches: a JSON 6902 patch needs a target ({entry})")
        matched = [doc for doc in docs if _matches(doc, target)]
        if not matched:
            raise KustomizeError(f"patches: target {target} matches nothing")
        for doc in matched:
            for operation in body:
                _json6902(doc, operation)
        return docs
    if not isinstance(body, dict):
        raise KustomizeError(f"patches: cannot read patch {entry}")
    if target is None:
        target = {"kind": body["kind"], "name": re.escape(body["metadata"]["name"])}
    result: list[Doc] = []
    hits = 0
    for doc in docs:
        if not _matches(doc, target):
            result.append(doc)
            continue
        hits += 1
        # The patch's own identity selects the object; it is not merged into it.
        patch = copy.deepcopy(body)
        patch.pop("apiVersion", None)
        patch.pop("kind", None)
        patch.get("metadata", {}).pop("name", None)
        merged = _strategic_merge(doc, patch)
        if merged is not _DELETE:
            result.append(merged)
    if not hits:
        raise KustomizeError(f"patches: target {target} matches nothing")
    return result


def _matches(doc: Doc, target: Doc) -> bool:
    unknown = set(target) - {"group", "version", "kind", "name", "labelSelector"}
    if unknown:
        raise KustomizeError(f"patch target: unsupported fields {sorted(unknown)}")
    group, _, version = doc["apiVersion"].rpartition("/")
    if "group" in target and target["group"] != group:
        return False
    if "version" in target and target["version"] != version:
        return False
    if "kind" in target and target["kind"] != doc["kind"]:
        return False
    if "name" in target and not re.fullmatch(target["name"], doc["metadata"]["name"]):
        return False
    if "labelSelector" in target:
        labels = doc["metadata"].get("labels", {})
        for term in target["labelSelector"].split(","):
            key, _, value = term.partition("=")
            if not value or labels.get(key.strip()) != value.strip():
                return False
    return True


_DELETE = object()


def _strategic_merge(base: Any, patch: Any) -> Any:
    if isinstance(patch, dict):
        directive = patch.get("$patch")
        if directive == "delete":
            return _DELETE
        if directive == "replace":
            return {k: v for k, v in patch.items() if k != "$patch"}
        if directive is not None:
            raise KustomizeError(f"unsupported $patch directive {directive!r}")
        merged = dict(base) if isinstance(base, dict) else {}
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = _strategic_merge(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    if isinstance(patch, list) and isinstance(base, list) and _named(patch) and _named(base):
        merged_list = [copy.deepcopy(item) for item in base]
        index = {item["name"]: position for position, item in enumerate(merged_list)}
        for item in patch:
            if item["name"] in index:
                position = index[item["name"]]
                result = _strategic_merge(merged_list[position], item)
                merged_list[position] = result
            else:
                merged_list.append(copy.deepcopy(item))
        return [item for item in merged_list if item is not _DELETE]
    return copy.deepcopy(patch)


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(item, dict) and "name" in item for item in items)


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise KustomizeError(f"JSON pointer {path!r} must start with /")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _json6902(doc: Doc, operation: Doc) -> None:
    op = operation.get("op")
    if op not in {"add", "remove", "replace"}:
        raise KustomizeError(f"unsupported JSON 6902 operation {op!r}")
    *parents, last = _pointer(operation["path"])
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        if op == "add":
            position = len(node) if last == "-" else int(last)
            node.insert(position, copy.deepcopy(operation["value"]))
        elif op == "remove":
            del node[int(last)]
        else:
            if not 0 <= int(last) < len(node):
                raise KustomizeError(f"replace: {operation['path']} does not exist")
            node[int(last)] = copy.deepcopy(operation["value"])
        return
    if op in {"remove", "replace"} and last not in node:
        raise KustomizeError(f"{op}: {operation['path']} does not exist in {doc['metadata']}")
    if op == "remove":
        del node[last]
    else:
        node[last] = copy.deepcopy(operation["value"])


def _apply_labels(entry: Doc, docs: list[Doc]) -> None:
    unknown = set(entry) - {"pairs", "includeSelectors"}
    if unknown or entry.get("includeSelectors", False):
        raise KustomizeError("labels: only pairs with includeSelectors: false are supported")
    for doc in docs:
        doc.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])


def _pod_specs(doc: Doc) -> list[Doc]:
    specs = []
    for path in _POD_TEMPLATE_PATHS:
        node: Any = doc
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            specs.append(node)
    return specs


def _image_name(image: str) -> tuple[str, str]:
    if "@" in image:
        raise KustomizeError(f"image digests are not supported ({image})")
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return image, ""
    return name, tag


def _apply_image(entry: Doc, docs: list[Doc]) -> None:
    unknown = set(entry) - {"name", "newName", "newTag"}
    if unknown:
        raise KustomizeError(f"images: unsupported fields {sorted(unknown)}")
    hits = 0
    for doc in docs:
        for spec in _pod_specs(doc):
            for container in spec.get("containers", []) + spec.get("initContainers", []):
                name, tag = _image_name(container["image"])
                if name != entry["name"]:
                    continue
                hits += 1
                name = entry.get("newName", name)
                tag = str(entry.get("newTag", tag))
                container["image"] = f"{name}:{tag}" if tag else name
    if not hits:
        raise KustomizeError(f"images: {entry['name']} is used by no container")


def _check_unique(docs: list[Doc]) -> None:
    seen: set[tuple[str, str, str]] = set()
    for doc in docs:
        key = (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])
        if key in seen:
            raise KustomizeError(f"duplicate object {key}")
        seen.add(key)
