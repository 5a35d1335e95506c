"""The kustomize overlays render, and every object validates offline.

Built-in kinds validate against the Kubernetes OpenAPI schemas shipped by
kubernetes-validate, in strict mode (unknown fields fail). Custom resources validate
against the CRD subsets in crd_schemas/. A kind with neither schema fails the test.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

# The oldest Kubernetes minor version the manifests must be valid for.
KUBERNETES_VERSION = "1.31"
REPO = Path(__file__).resolve().parents[2]


def _validate(doc, crd_validator):
    validator = crd_validator(doc["apiVersion"], doc["kind"])
    if validator is not None:
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"no schema for {doc['apiVersion']} {doc['kind']}: add one to crd_schemas/"]
    except kubernetes_validate.ValidationError as error:
        return [str(error)]
    return []


class TestOverlaysRender:
    def test_overlay_renders_every_service_and_the_platform_objects(self, objects, overlay):
        kinds = {d["kind"] for d in objects.docs}
        assert {
            "Deployment",
            "Service",
            "PodDisruptionBudget",
            "Job",
            "HorizontalPodAutoscaler",
            "ScaledObject",
            "NetworkPolicy",
            "Ingress",
            "ConfigMap",
            "Cluster",
        } <= kinds, overlay

    def test_every_namespaced_object_lands_in_the_overlay_namespace(self, objects, overlay):
        namespace = {"dev": "trueup-dev", "prod": "trueup"}[overlay]
        assert objects.get("Namespace", namespace) is not None
        for doc in objects.docs:
            if doc["kind"] != "Namespace":
                assert doc["metadata"].get("namespace") == namespace, doc["metadata"]

    def test_prod_pins_images_to_a_registry_and_a_release_tag(self, render):
        for deployment in [d for d in render("prod") if d["kind"] in {"Deployment", "Job"}]:
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                image = container["image"]
                assert "/" in image.split(":")[0], image
                assert not image.endswith(":latest"), image


class TestObjectsValidate:
    def test_every_object_validates_against_its_schema(self, docs, crd_validator):
        problems = {}
        for doc in docs:
            errors = _validate(doc, crd_validator)
            if errors:
                problems[f"{doc['kind']}/{doc['metadata']['name']}"] = errors
        assert not problems

    def test_nats_streams_manifest_validates(self, crd_validator):
        streams = [d for d in yaml.safe_load_all((REPO / "deploy/nats/streams.yaml").read_text())]
        assert streams
        for doc in streams:
            assert _validate(doc, crd_validator) == [], doc["metadata"]["name"]


class TestValidatorsCatchMistakes:
    """The schema checks above would be worthless if they accepted anything."""

    def test_misspelt_field_in_a_deployment_fails(self, render, crd_validator):
        deployment = copy.deepcopy(next(d for d in render("dev") if d["kind"] == "Deployment"))
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        container["livenesProbe"] = container.pop("livenessProbe")
        assert _validate(deployment, crd_validator)

    def test_wrong_type_in_a_deployment_fails(self, render, crd_validator):
        deployment = copy.deepcopy(next(d for d in render("dev") if d["kind"] == "Deployment"))
        deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "x"
        assert _validate(deployment, crd_validator)

    def test_misspelt_field_in_a_scaled_object_fails(self, render, crd_validator):
        scaled = copy.deepcopy(next(d for d in render("dev") if d["kind"] == "ScaledObject"))
        scaled["spec"]["maxReplicas"] = scaled["spec"].pop("maxReplicaCount")
        assert _validate(scaled, crd_validator)

    def test_misspelt_field_in_a_cnpg_cluster_fails(self, render, crd_validator):
        cluster = copy.deepcopy(next(d for d in render("prod") if d["kind"] == "Cluster"))
        cluster["spec"]["instance"] = cluster["spec"].pop("instances")
        assert _validate(cluster, crd_validator)

    def test_unknown_custom_resource_fails(self, crd_validator):
        doc = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
        assert _validate(doc, crd_validator)


class TestRendererSubset:
    """kustomize_subset renders what kustomize would, and refuses what it cannot."""

    def test_strategic_merge_merges_named_lists_and_json6902_replaces(self, tmp_path):
        ks = _renderer()
        (tmp_path / "base").mkdir()
        (tmp_path / "base/kustomization.yaml").write_text("resources: [d.yaml]\n")
        (tmp_path / "base/d.yaml").write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "a"},
                    "spec": {
                        "replicas": 2,
                        "template": {
                            "spec": {
                                "containers": [
                                    {
                                        "name": "c",
                                        "image": "img:1",
                                        "env": [{"name": "X", "value": "1"}],
                                    }
                                ]
                            }
                        },
                    },
                }
            )
        )
        (tmp_path / "kustomization.yaml").write_text(
            yaml.safe_dump(
                {
                    "namespace": "ns",
                    "resources": ["base"],
                    "images": [{"name": "img", "newTag": "2"}],
                    "patches": [
                        {
                            "patch": yaml.safe_dump(
                                {
                                    "apiVersion": "apps/v1",
                                    "kind": "Deployment",
                                    "metadata": {"name": "a"},
                                    "spec": {
                                        "template": {
                                            "spec": {
                                                "containers": [
                                                    {
                                                        "name": "c",
                                                        "env": [{"name": "Y", "value": "2"}],
                                                    }
                                                ]
                                            }
                                        }
                                    },
                                }
                            )
                        },
                        {
                            "target": {"kind": "Deployment", "name": "a"},
                            "patch": "- {op: replace, path: /spec/replicas, value: 5}",
                        },
                    ],
                }
            )
        )
        (doc,) = ks.render(tmp_path)
        container = doc["spec"]["template"]["spec"]["containers"][0]
        assert doc["metadata"]["namespace"] == "ns"
        assert doc["spec"]["replicas"] == 5
        assert container["image"] == "img:2"
        assert container["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]

    def test_unsupported_kustomize_feature_is_refused(self, tmp_path):
        ks = _renderer()
        (tmp_path / "kustomization.yaml").write_text("namePrefix: x-\nresources: []\n")
        with pytest.raises(ks.KustomizeError, match="namePrefix"):
            ks.render(tmp_path)

    def test_patch_matching_nothing_is_refused(self, tmp_path):
        ks = _renderer()
        (tmp_path / "kustomization.yaml").write_text(
            "resources: []\npatches:\n  - target: {kind: Deployment}\n"
            "    patch: '- {op: remove, path: /spec}'\n"
        )
        with pytest.raises(ks.KustomizeError, match="matches nothing"):
            ks.render(tmp_path)


def _renderer():
    spec = importlib.util.spec_from_file_location(
        "kustomize_subset_under_test", Path(__file__).with_name("kustomize_subset.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
