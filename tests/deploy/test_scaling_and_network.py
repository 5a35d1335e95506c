"""Each service scales on its own signal, and only the gateway and the vendor webhooks
are reachable from outside the namespace."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
# Namespaces allowed to reach TrueUp pods, and what they may reach.
INGRESS_CONTROLLER_NAMESPACE = "ingress-nginx"
MONITORING_NAMESPACE = "monitoring"
EXTERNALLY_REACHABLE = {"gateway", "vendor_ingestion"}


def _targets(objects, kind):
    return {d["spec"]["scaleTargetRef"]["name"]: d for d in objects.of_kind(kind)}


class TestAutoscaling:
    def test_gateway_and_reconciliation_have_hpas_on_their_deployments(self, objects):
        hpas = _targets(objects, "HorizontalPodAutoscaler")
        for name in ("trueup-gateway", "trueup-reconciliation"):
            hpa = hpas.get(name)
            assert hpa is not None, name
            assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
            assert objects.get("Deployment", name) is not None
            assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
            assert hpa["spec"]["metrics"]

    def test_vendor_ingestion_scales_with_keda_on_its_jetstream_consumer_lag(self, objects):
        scaled = _targets(objects, "ScaledObject").get("trueup-vendor-ingestion")
        assert scaled is not None
        assert objects.get("Deployment", "trueup-vendor-ingestion") is not None
        # It also answers webhooks, so it must never scale to zero.
        assert scaled["spec"]["minReplicaCount"] >= 1
        triggers = [t for t in scaled["spec"]["triggers"] if t["type"] == "nats-jetstream"]
        assert len(triggers) == 1
        metadata = triggers[0]["metadata"]
        assert {
            "natsServerMonitoringEndpoint",
            "account",
            "stream",
            "consumer",
            "lagThreshold",
        } <= set(metadata)
        # Durable consumers are named `<service>-<name>` (trueup.platform.broker).
        assert metadata["consumer"].startswith("vendor_ingestion-")
        assert int(metadata["lagThreshold"]) > 0
        streams = {
            d["spec"]["name"]: d["spec"]["subjects"]
            for d in yaml.safe_load_all((REPO / "deploy/nats/streams.yaml").read_text())
        }
        # vendor_ingestion consumes cmd.ingest.*, which lives in the stream named here.
        assert metadata["stream"] in streams
        assert any(
            s in {"cmd.>", "cmd.ingest.>", "cmd.ingest.*"} for s in streams[metadata["stream"]]
        )
        monitor_port = yaml.safe_load((REPO / "deploy/nats/values.yaml").read_text())["config"][
            "monitor"
        ]["port"]
        assert metadata["natsServerMonitoringEndpoint"].endswith(f":{monitor_port}")

    def test_keda_is_the_only_autoscaler_of_vendor_ingestion(self, objects):
        # KEDA creates its own HPA; a second one would fight it.
        assert "trueup-vendor-ingestion" not in _targets(objects, "HorizontalPodAutoscaler")

    def test_every_autoscaler_targets_an_existing_deployment(self, objects):
        for kind in ("HorizontalPodAutoscaler", "ScaledObject"):
            for name in _targets(objects, kind):
                assert objects.get("Deployment", name) is not None, (kind, name)


def _server_pods(objects):
    """(service, pod labels) of every Deployment: a service may run several (reconciliation
    runs one per usage lane)."""
    return [
        (
            d["spec"]["template"]["metadata"]["labels"]["trueup.io/service"],
            d["spec"]["template"]["metadata"]["labels"],
        )
        for d in objects.of_kind("Deployment")
    ]


def _policies_for(objects, labels, selector_matches, policy_type):
    return [
        p
        for p in objects.of_kind("NetworkPolicy")
        if policy_type in p["spec"].get("policyTypes", ["Ingress"])
        and selector_matches(p["spec"]["podSelector"], labels)
    ]


def _peer_namespace(peer):
    """The namespace a peer allows, None for the policy's own namespace, '*' for any."""
    if "ipBlock" in peer:
        return "*"
    if "namespaceSelector" not in peer:
        return None
    match = peer["namespaceSelector"].get("matchLabels", {})
    if set(match) == {"kubernetes.io/metadata.name"} and not peer["namespaceSelector"].get(
        "matchExpressions"
    ):
        return match["kubernetes.io/metadata.name"]
    return "*"


class TestNetworkPolicies:
    def test_every_trueup_pod_is_denied_by_default(self, objects, selector_matches):
        defaults = [
            p
            for p in objects.of_kind("NetworkPolicy")
            if set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress")
            and not p["spec"].get("egress")
        ]
        assert defaults, "no default-deny policy"
        pods = [labels for _, labels in _server_pods(objects)] + [
            j["spec"]["template"]["metadata"]["labels"] for j in objects.of_kind("Job")
        ]
        for labels in pods:
            assert any(selector_matches(p["spec"]["podSelector"], labels) for p in defaults), labels

    def test_only_gateway_and_vendor_ingestion_admit_traffic_from_the_ingress_controller(
        self, objects, selector_matches
    ):
        admitted = set()
        for service, labels in _server_pods(objects):
            for policy in _policies_for(objects, labels, selector_matches, "Ingress"):
                for rule in policy["spec"].get("ingress", []):
                    peers = rule.get("from")
                    assert peers, f"{policy['metadata']['name']}: ingress rule open to everyone"
                    for peer in peers:
                        namespace = _peer_namespace(peer)
                        assert namespace != "*", f"{policy['metadata']['name']}: {peer}"
                        if namespace == INGRESS_CONTROLLER_NAMESPACE:
                            admitted.add(service)
                        elif namespace == MONITORING_NAMESPACE:
                            assert [p["port"] for p in rule["ports"]] == ["http"]
                        else:
                            # Services talk through NATS, never pod to pod.
                            raise AssertionError(f"{policy['metadata']['name']} admits {peer}")
        assert admitted == EXTERNALLY_REACHABLE

    def test_egress_reaches_dns_nats_and_postgres(self, objects, selector_matches):
        for service, labels in _server_pods(objects):
            ports = {
                port["port"]
                for policy in _policies_for(objects, labels, selector_matches, "Egress")
                for rule in policy["spec"].get("egress", [])
                for port in rule.get("ports", [])
            }
            assert {53, 4222, 5432} <= ports, service

    def test_database_admits_trueup_pods_and_the_operator(self, objects, selector_matches):
        cluster = objects.of_kind("Cluster")[0]
        labels = {"cnpg.io/cluster": cluster["metadata"]["name"]}
        policies = _policies_for(objects, labels, selector_matches, "Ingress")
        assert policies, "the database pods have no ingress policy"
        peers = [peer for p in policies for r in p["spec"]["ingress"] for peer in r["from"]]
        assert any(
            peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/part-of")
            == "trueup"
            for peer in peers
        )
        assert "cnpg-system" in {_peer_namespace(peer) for peer in peers}


class TestExternalExposure:
    def test_ingress_routes_only_to_gateway_and_webhook_paths(self, objects):
        routes = []
        for ingress in objects.of_kind("Ingress"):
            for rule in ingress["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    routes.append((path["path"], path["backend"]["service"]["name"]))
        assert {name for _, name in routes} == {"trueup-gateway", "trueup-vendor-ingestion"}
        for path, name in routes:
            if name == "trueup-vendor-ingestion":
                assert path == "/webhooks/", path

    def test_no_service_is_exposed_outside_the_cluster_directly(self, objects):
        for service in objects.of_kind("Service"):
            assert service["spec"].get("type", "ClusterIP") == "ClusterIP", service["metadata"]

    def test_prod_ingress_terminates_tls(self, render):
        (ingress,) = [d for d in render("prod") if d["kind"] == "Ingress"]
        hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
        tls_hosts = {host for entry in ingress["spec"]["tls"] for host in entry["hosts"]}
        assert hosts <= tls_hosts
