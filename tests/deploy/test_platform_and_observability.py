"""NATS, PostgreSQL and observability pieces agree with each other and with the services:
streams, roles and schemas, Secrets and URLs, the Grafana dashboard and scraping."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from trueup.contracts.streams import ALL_STREAMS

REPO = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (REPO / "services").iterdir() if (p / "pyproject.toml").is_file())
DASHBOARD_METRICS = (
    "trueup_consumer_lag",
    "trueup_handler_seconds_bucket",
    "trueup_import_rows_total",
    "trueup_writeback_outcomes_total",
    "trueup_psa_request_seconds_bucket",
    "trueup_psa_rate_limited_total",
)
GiB = 1024**3
_SIZE = re.compile(r"^(\d+)(Gi|Mi|Ti)$")


def _bytes(quantity: str) -> int:
    number, unit = _SIZE.fullmatch(quantity).groups()
    return int(number) * {"Mi": 1024**2, "Gi": GiB, "Ti": 1024**4}[unit]


def _seconds(duration: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([smh])", duration).groups()
    return int(number) * {"s": 1, "m": 60, "h": 3600}[unit]


def _nats_values():
    return yaml.safe_load((REPO / "deploy/nats/values.yaml").read_text())


def _streams():
    return [d for d in yaml.safe_load_all((REPO / "deploy/nats/streams.yaml").read_text())]


class TestNats:
    def test_helm_values_make_a_three_node_jetstream_cluster_on_disk(self):
        config = _nats_values()["config"]
        assert config["cluster"]["enabled"] is True
        assert config["cluster"]["replicas"] == 3
        assert config["jetstream"]["enabled"] is True
        assert config["jetstream"]["fileStore"]["enabled"] is True
        assert config["jetstream"]["fileStore"]["pvc"]["enabled"] is True
        assert config["monitor"]["enabled"] is True

    def test_streams_mirror_the_contracts_including_the_dead_letter_stream(self):
        declared = {d["spec"]["name"]: d["spec"] for d in _streams()}
        assert set(declared) == {spec.name for spec in ALL_STREAMS}
        assert "DLQ" in declared
        for spec in ALL_STREAMS:
            stream = declared[spec.name]
            assert stream["subjects"] == list(spec.subjects), spec.name
            assert _seconds(stream["maxAge"]) == spec.max_age_seconds, spec.name
            assert _seconds(stream["duplicateWindow"]) == spec.duplicate_window_seconds, spec.name

    def test_streams_are_replicated_and_fit_on_a_server(self):
        values = _nats_values()["config"]
        total = 0
        for stream in _streams():
            spec = stream["spec"]
            assert spec["storage"] == "file"
            assert spec["replicas"] == values["cluster"]["replicas"]
            assert spec["maxBytes"] > 0
            total += spec["maxBytes"]
        # With R3 on three servers every server holds every stream.
        file_store = values["jetstream"]["fileStore"]
        assert total <= _bytes(file_store["maxSize"]) <= _bytes(file_store["pvc"]["size"])


def _secret_strings(objects, name):
    secret = objects.get("Secret", name)
    if secret is not None:
        return secret["stringData"]
    external = objects.get("ExternalSecret", name)
    assert external is not None, name
    return external["spec"]["target"]["template"]["data"]


class TestDatabase:
    def test_each_service_has_its_own_schema_owned_by_its_own_role(self, objects):
        (cluster,) = objects.of_kind("Cluster")
        sql = cluster["spec"]["bootstrap"]["initdb"]["postInitApplicationSQL"]
        for service in SERVICES:
            assert f"CREATE ROLE trueup_{service} NOLOGIN NOSUPERUSER NOBYPASSRLS" in sql
            assert f"CREATE SCHEMA {service} AUTHORIZATION trueup_{service}" in sql

    def test_managed_roles_log_in_with_the_service_secret_and_no_privileges(self, objects):
        (cluster,) = objects.of_kind("Cluster")
        roles = {role["name"]: role for role in cluster["spec"]["managed"]["roles"]}
        assert set(roles) == {f"trueup_{service}" for service in SERVICES}
        for service in SERVICES:
            role = roles[f"trueup_{service}"]
            assert role["login"] is True
            assert role["superuser"] is False
            assert role["bypassrls"] is False
            secret_name = role["passwordSecret"]["name"]
            assert secret_name == f"trueup-db-{service.replace('_', '-')}"
            assert _secret_strings(objects, secret_name)["username"] == role["name"]

    def test_database_urls_use_asyncpg_the_service_role_and_the_primary(self, objects):
        (cluster,) = objects.of_kind("Cluster")
        database = cluster["spec"]["bootstrap"]["initdb"]["database"]
        primary = f"{cluster['metadata']['name']}-rw"
        for service in SERVICES:
            strings = _secret_strings(objects, f"trueup-db-{service.replace('_', '-')}")
            url = urlsplit(strings["url"])
            assert url.scheme == "postgresql+asyncpg"
            assert url.username == f"trueup_{service}" == strings["username"]
            assert url.password == strings["password"]
            assert url.hostname == primary
            assert url.path == f"/{database}"

    def test_prod_backs_up_continuously(self, render):
        docs = render("prod")
        (cluster,) = [d for d in docs if d["kind"] == "Cluster"]
        assert cluster["spec"]["instances"] >= 3
        archivers = [p for p in cluster["spec"].get("plugins", []) if p.get("isWALArchiver")]
        assert len(archivers) == 1
        stores = {d["metadata"]["name"] for d in docs if d["kind"] == "ObjectStore"}
        assert archivers[0]["parameters"]["barmanObjectName"] in stores
        schedules = [d for d in docs if d["kind"] == "ScheduledBackup"]
        assert schedules
        assert schedules[0]["spec"]["cluster"]["name"] == cluster["metadata"]["name"]


def _dashboard():
    return json.loads((REPO / "deploy/k8s/monitoring/dashboards/trueup.json").read_text())


class TestObservability:
    def test_dashboard_charts_every_required_metric(self):
        dashboard = _dashboard()
        expressions = " ".join(
            target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
        )
        for metric in DASHBOARD_METRICS:
            assert metric in expressions, metric

    def test_dashboard_panels_are_well_formed(self):
        dashboard = _dashboard()
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids))
        variables = {v["name"] for v in dashboard["templating"]["list"]}
        assert {"datasource", "namespace"} <= variables
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == "${datasource}"
            for target in panel["targets"]:
                assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
                assert 'namespace=~"$namespace"' in target["expr"]

    def test_prod_ships_the_dashboard_and_a_service_monitor(self, render, selector_matches):
        docs = render("prod")
        config_map = next(
            d
            for d in docs
            if d["kind"] == "ConfigMap" and d["metadata"].get("labels", {}).get("grafana_dashboard")
        )
        assert json.loads(config_map["data"]["trueup.json"]) == _dashboard()
        (monitor,) = [d for d in docs if d["kind"] == "ServiceMonitor"]
        services = [d for d in docs if d["kind"] == "Service"]
        scraped = [
            s
            for s in services
            if selector_matches(monitor["spec"]["selector"], s["metadata"]["labels"])
        ]
        # Every server pod is behind a scraped Service (reconciliation has two Deployments,
        # one per usage lane).
        assert len(scraped) >= len(SERVICES)
        for deployment in [d for d in docs if d["kind"] == "Deployment"]:
            labels = deployment["spec"]["template"]["metadata"]["labels"]
            assert any(
                all(labels.get(k) == v for k, v in s["spec"]["selector"].items()) for s in scraped
            ), deployment["metadata"]["name"]
        assert {e["port"] for e in monitor["spec"]["endpoints"]} == {"http"}
        assert {e["path"] for e in monitor["spec"]["endpoints"]} == {"/metrics"}

    def test_pods_carry_scrape_annotations(self, objects):
        for deployment in objects.of_kind("Deployment"):
            annotations = deployment["spec"]["template"]["metadata"]["annotations"]
            assert annotations["prometheus.io/scrape"] == "true"
            assert annotations["prometheus.io/path"] == "/metrics"
            assert annotations["prometheus.io/port"] == "8080"


def test_operations_guide_covers_what_operators_do():
    text = (REPO / "docs/operations.md").read_text().lower()
    for topic in (
        "## scaling",
        "## sizing nats streams",
        "## backups",
        "## upgrading",
        "## rotating secrets",
        "## capacity per replica",
    ):
        assert topic in text, topic
