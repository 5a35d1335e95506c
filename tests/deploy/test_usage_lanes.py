"""Reconciliation's two usage lanes run as two Deployments: `trueup-reconciliation` applies
live usage (webhooks, pushes) and `trueup-reconciliation-bulk` bulk usage (imports,
connector polls), so an import's load scales, and can be stopped, without touching the
webhooks (issue #17). Both run the same server; only `TRUEUP_USAGE_LANES`, their pod
labels and their autoscalers differ."""

from __future__ import annotations

import copy
import importlib
import os
from unittest import mock

import pytest

from trueup.contracts import messages as m
from trueup.contracts.streams import ALL_STREAMS
from trueup.platform.database import DEFAULT_POOL_SIZE
from trueup.reconciliation.settings import Settings

LIVE = "trueup-reconciliation"
BULK = "trueup-reconciliation-bulk"
# The durable consumer of the bulk lane, `<service>-<name>` (trueup.platform.broker and
# trueup.reconciliation.handlers.events).
BULK_CONSUMER = "reconciliation-usage-bulk"
# PostgreSQL's `superuser_reserved_connections` default: kept for the operator.
SUPERUSER_RESERVED = 3
# What each replica opens at most in steady state (its pool); a migration Job opens a
# default pool again.
POOL_SIZES = {
    service: importlib.import_module(f"trueup.{service}.settings").Settings().database_pool_size
    for service in (
        "gateway",
        "psa_sync",
        "vendor_ingestion",
        "reconciliation",
        "writeback",
        "audit",
    )
}


def _container(deployment):
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _env(container):
    return {item["name"]: item for item in container.get("env", [])}


def _lanes(deployment) -> list[str]:
    """The lanes the Deployment's pods apply, read by the service's own settings."""
    env = _env(_container(deployment))
    variables = {"TRUEUP_USAGE_LANES": env["TRUEUP_USAGE_LANES"]["value"]}
    with mock.patch.dict(os.environ, variables):
        return list(Settings().usage_lanes)


def _pod_labels(deployment):
    return deployment["spec"]["template"]["metadata"]["labels"]


def _autoscalers(objects, name):
    return [
        d
        for kind in ("HorizontalPodAutoscaler", "ScaledObject")
        for d in objects.of_kind(kind)
        if d["spec"]["scaleTargetRef"]["name"] == name
    ]


def _max_replicas(objects, deployment) -> int:
    scalers = _autoscalers(objects, deployment["metadata"]["name"])
    if not scalers:
        return int(deployment["spec"].get("replicas", 1))
    (scaler,) = scalers
    return int(scaler["spec"].get("maxReplicas") or scaler["spec"]["maxReplicaCount"])


def _subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcards: `*` one token, `>` the rest."""
    tokens, wanted = pattern.split("."), subject.split(".")
    for index, token in enumerate(tokens):
        if token == ">":
            return len(wanted) > index
        if index >= len(wanted) or token not in {"*", wanted[index]}:
            return False
    return len(tokens) == len(wanted)


@pytest.fixture
def live(objects):
    deployment = objects.get("Deployment", LIVE)
    assert deployment is not None
    return deployment


@pytest.fixture
def bulk(objects):
    deployment = objects.get("Deployment", BULK)
    assert deployment is not None, "no Deployment for the bulk usage lane"
    return deployment


def test_each_usage_lane_runs_in_a_deployment_of_its_own(objects, live, bulk):
    reconciliation = {
        d["metadata"]["name"]: _lanes(d)
        for d in objects.of_kind("Deployment")
        if _pod_labels(d)["trueup.io/service"] == "reconciliation"
    }
    assert reconciliation == {LIVE: ["live"], BULK: ["bulk"]}


def test_bulk_lane_runs_the_same_server_as_the_live_lane(live, bulk):
    def server(deployment):
        pod = copy.deepcopy(deployment["spec"]["template"]["spec"])
        pod.pop("topologySpreadConstraints")
        container = _container({"spec": {"template": {"spec": pod}}})
        container["env"] = [e for e in container["env"] if e["name"] != "TRUEUP_USAGE_LANES"]
        # Requests and limits may differ by lane; that they are set is checked below.
        container.pop("resources")
        return pod

    assert server(bulk) == server(live)
    assert _container(bulk)["image"] == _container(live)["image"]
    resources = _container(bulk)["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]
    annotations = bulk["spec"]["template"]["metadata"]["annotations"]
    assert annotations == live["spec"]["template"]["metadata"]["annotations"]
    assert _pod_labels(bulk)["app.kubernetes.io/component"] == "server"
    assert _pod_labels(bulk)["app.kubernetes.io/part-of"] == "trueup"
    # Spread over zones and nodes among its own pods, as every server is.
    for constraint in bulk["spec"]["template"]["spec"]["topologySpreadConstraints"]:
        assert constraint["labelSelector"] == bulk["spec"]["selector"]


def test_no_deployment_selects_another_deployments_pods(objects, selector_matches):
    # A Deployment selecting the other lane's pods would count them as its own and
    # scale or replace them.
    deployments = objects.of_kind("Deployment")
    for owner in deployments:
        for other in deployments:
            if other is not owner:
                assert not selector_matches(owner["spec"]["selector"], _pod_labels(other)), (
                    owner["metadata"]["name"],
                    other["metadata"]["name"],
                )


def test_every_deployment_has_one_disruption_budget_and_a_scraped_service(
    objects, selector_matches
):
    for deployment in objects.of_kind("Deployment"):
        labels = _pod_labels(deployment)
        budgets = [
            pdb
            for pdb in objects.of_kind("PodDisruptionBudget")
            if selector_matches(pdb["spec"]["selector"], labels)
        ]
        assert len(budgets) == 1, deployment["metadata"]["name"]
        # The ServiceMonitor finds pods through a Service; metrics of pods behind none
        # would be missing from the dashboard.
        services = [
            s
            for s in objects.of_kind("Service")
            if all(labels.get(k) == v for k, v in s["spec"]["selector"].items())
        ]
        assert services, deployment["metadata"]["name"]


def test_bulk_lane_scales_on_its_own_consumer_lag(objects, live, bulk):
    assert "replicas" not in bulk["spec"]
    (scaler,) = _autoscalers(objects, BULK)
    assert scaler["kind"] == "ScaledObject"
    assert scaler["spec"]["minReplicaCount"] >= 1
    (lag,) = [t for t in scaler["spec"]["triggers"] if t["type"] == "nats-jetstream"]
    assert lag["metadata"]["consumer"] == BULK_CONSUMER
    (stream,) = [s for s in ALL_STREAMS if s.name == lag["metadata"]["stream"]]
    imported = m.spec_for(m.UsageImported).subject.replace("*", "tenant")
    assert any(_subject_matches(pattern, imported) for pattern in stream.subjects)
    assert int(lag["metadata"]["lagThreshold"]) > 0
    # KEDA owns the HPA it makes; the live lane keeps its own.
    assert not [s for s in _autoscalers(objects, BULK) if s["kind"] == "HorizontalPodAutoscaler"]
    assert [s["kind"] for s in _autoscalers(objects, LIVE)] == ["HorizontalPodAutoscaler"]


def test_bulk_lane_gets_the_live_lanes_network_policies(objects, live, bulk, selector_matches):
    def policies(deployment):
        return sorted(
            p["metadata"]["name"]
            for p in objects.of_kind("NetworkPolicy")
            if selector_matches(p["spec"]["podSelector"], _pod_labels(deployment))
        )

    assert policies(bulk) == policies(live)
    assert "trueup-default-deny" in policies(bulk)


def test_every_services_pools_fit_its_roles_connection_limit(objects):
    """Both reconciliation lanes share a role; writeback's pool is its own size."""
    (cluster,) = objects.of_kind("Cluster")
    limits = {role["name"]: role["connectionLimit"] for role in cluster["spec"]["managed"]["roles"]}
    opened: dict[str, int] = {}
    for service, pool_size in POOL_SIZES.items():
        replicas = sum(
            _max_replicas(objects, d)
            for d in objects.of_kind("Deployment")
            if _pod_labels(d)["trueup.io/service"] == service
        )
        assert replicas >= 1, service
        opened[service] = replicas * pool_size + DEFAULT_POOL_SIZE
        assert opened[service] <= limits[f"trueup_{service}"], service
    max_connections = int(cluster["spec"]["postgresql"]["parameters"]["max_connections"])
    assert sum(opened.values()) <= max_connections - SUPERUSER_RESERVED, opened
