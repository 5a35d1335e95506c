"""Every service in services/ is deployable by itself: an image, a Deployment with
probes, resources and a PodDisruptionBudget, a Service, a migration Job and the
Secrets it reads, in both overlays.

The list of services comes from the services/ folder, so a new service fails here
until it has all of these.
"""

from __future__ import annotations

import base64
import re
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (REPO / "services").iterdir() if (p / "pyproject.toml").is_file())
WORKSPACE_MEMBERS = sorted(
    p.parent.relative_to(REPO).as_posix()
    for pattern in ("libs/*/pyproject.toml", "services/*/pyproject.toml")
    for p in REPO.glob(pattern)
)
HTTP_PORT = 8080


def dashed(service: str) -> str:
    return service.replace("_", "-")


def test_services_are_discovered():
    assert {"gateway", "reconciliation", "vendor_ingestion"} <= set(SERVICES)


def _dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    instructions = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


@pytest.mark.parametrize("service", SERVICES)
class TestImage:
    def test_dockerfile_is_multi_stage_and_syncs_only_this_package_from_the_lockfile(self, service):
        path = REPO / "services" / service / "Dockerfile"
        assert path.is_file(), f"services/{service} has no Dockerfile"
        instructions = _dockerfile_instructions(path.read_text())
        stages = [args for keyword, args in instructions if keyword == "FROM"]
        assert len(stages) >= 2, "multi-stage build expected"
        runs = " ".join(args for keyword, args in instructions if keyword == "RUN")
        syncs = re.findall(r"uv sync ([^&;]*)", runs)
        assert syncs, "the image must be built with uv sync"
        for sync in syncs:
            flags = shlex.split(sync)
            assert "--frozen" in flags, sync
            assert "--no-dev" in flags, sync
            assert flags[flags.index("--package") + 1] == f"trueup-{dashed(service)}", sync

    def test_dockerfile_copies_every_workspace_member_manifest(self, service):
        # uv reads the whole workspace even when installing one package; a new lib or
        # service missing here breaks `uv sync --frozen` inside the image.
        text = (REPO / "services" / service / "Dockerfile").read_text()
        for member in WORKSPACE_MEMBERS:
            assert f"COPY {member}/pyproject.toml" in text, member

    def test_image_runs_as_non_root_with_a_healthcheck_and_the_service_module(self, service):
        instructions = _dockerfile_instructions(
            (REPO / "services" / service / "Dockerfile").read_text()
        )
        final_stage = instructions[
            max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM") :
        ]
        users = [args for keyword, args in final_stage if keyword == "USER"]
        assert users, "the final stage must set USER"
        assert users[-1].split(":")[0] not in {"root", "0"}
        healthchecks = [args for keyword, args in final_stage if keyword == "HEALTHCHECK"]
        assert healthchecks
        assert "/healthz" in healthchecks[-1]
        entry = " ".join(args for keyword, args in final_stage if keyword in {"ENTRYPOINT", "CMD"})
        assert f'"trueup.{service}"' in entry


def test_gateway_image_builds_the_web_ui():
    text = (REPO / "services/gateway/Dockerfile").read_text()
    assert "npm ci" in text
    assert "npm run build" in text
    assert "trueup/gateway/static" in text


def test_dockerignore_keeps_local_state_out_of_the_build_context():
    ignored = (REPO / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "**/node_modules", ".data"):
        assert entry in ignored


def _deployment(objects, service):
    deployment = objects.get("Deployment", f"trueup-{dashed(service)}")
    assert deployment is not None, f"no Deployment for {service}"
    return deployment


def _server_container(deployment):
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _env(container):
    return {item["name"]: item for item in container.get("env", [])}


def _resolve_port(container, port):
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    return named[port]


@pytest.mark.parametrize("service", SERVICES)
class TestDeployment:
    def test_deployment_runs_the_service_image(self, objects, service):
        deployment = _deployment(objects, service)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["trueup.io/service"] == service
        image = _server_container(deployment)["image"].rsplit(":", 1)[0]
        assert image.endswith(f"/{dashed(service)}"), image

    def test_probes_hit_healthz_and_readyz_on_the_http_port(self, objects, service):
        container = _server_container(_deployment(objects, service))
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            assert probe in container, f"{service}: no {probe}"
            http = container[probe]["httpGet"]
            assert http["path"] == path
            assert _resolve_port(container, http["port"]) == HTTP_PORT

    def test_resources_are_requested_and_memory_is_limited(self, objects, service):
        resources = _server_container(_deployment(objects, service)).get("resources", {})
        assert {"cpu", "memory"} <= set(resources.get("requests", {})), service
        assert "memory" in resources.get("limits", {}), service

    def test_runs_as_non_root_without_privilege(self, objects, service):
        deployment = _deployment(objects, service)
        pod = deployment["spec"]["template"]["spec"]
        container = _server_container(deployment)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]

    def test_settings_come_from_the_shared_config_map_and_its_own_secrets(self, objects, service):
        container = _server_container(_deployment(objects, service))
        config_maps = [e["configMapRef"]["name"] for e in container.get("envFrom", [])]
        shared = {}
        for name in config_maps:
            config_map = objects.get("ConfigMap", name)
            assert config_map is not None, name
            shared.update(config_map["data"])
        env = _env(container)
        assert shared["TRUEUP_HTTP_PORT"] == str(HTTP_PORT)
        assert shared["TRUEUP_HTTP_HOST"] == "0.0.0.0"
        assert shared["TRUEUP_NATS_URL"].startswith("nats://")
        assert shared["TRUEUP_LOG_FORMAT"] == "json"
        assert env["TRUEUP_DATABASE_SCHEMA"]["value"] == service
        for name, item in env.items():
            if "valueFrom" in item:
                ref = item["valueFrom"]["secretKeyRef"]
                keys = objects.secret_keys(ref["name"])
                assert keys is not None, f"{service}: Secret {ref['name']} is not declared"
                assert ref["key"] in keys, f"{service}: {ref['name']} has no key {ref['key']}"
            else:
                assert "PASSWORD" not in name
                assert "SECRET" not in name
                assert "KEY" not in name

    def test_database_url_comes_from_a_secret(self, objects, service):
        env = _env(_server_container(_deployment(objects, service)))
        ref = env["TRUEUP_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == f"trueup-db-{dashed(service)}"

    def test_pod_disruption_budget_covers_the_pods(self, objects, service, selector_matches):
        labels = _deployment(objects, service)["spec"]["template"]["metadata"]["labels"]
        budgets = [
            pdb
            for pdb in objects.of_kind("PodDisruptionBudget")
            if selector_matches(pdb["spec"]["selector"], labels)
        ]
        assert len(budgets) == 1, service
        assert "maxUnavailable" in budgets[0]["spec"] or "minAvailable" in budgets[0]["spec"]

    def test_service_exposes_the_http_port_inside_the_cluster(self, objects, service):
        deployment = _deployment(objects, service)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        svc = objects.get("Service", f"trueup-{dashed(service)}")
        assert svc is not None, service
        assert svc["spec"].get("type", "ClusterIP") == "ClusterIP"
        assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items())
        (port,) = svc["spec"]["ports"]
        assert _resolve_port(_server_container(deployment), port["targetPort"]) == HTTP_PORT
        assert port["name"] == "http"

    def test_migration_job_runs_migrate_with_the_same_image_and_database(self, objects, service):
        deployment = _deployment(objects, service)
        server = _server_container(deployment)
        jobs = [
            job
            for job in objects.of_kind("Job")
            if job["spec"]["template"]["metadata"]["labels"].get("trueup.io/service") == service
        ]
        assert len(jobs) == 1, f"{service}: expected one migration Job"
        pod = jobs[0]["spec"]["template"]["spec"]
        assert pod["restartPolicy"] in {"Never", "OnFailure"}
        (container,) = pod["containers"]
        assert container["command"] == ["python", "-m", f"trueup.{service}", "migrate"]
        assert container["image"] == server["image"]
        assert _env(container)["TRUEUP_DATABASE_URL"] == _env(server)["TRUEUP_DATABASE_URL"]
        assert _env(container)["TRUEUP_DATABASE_SCHEMA"] == _env(server)["TRUEUP_DATABASE_SCHEMA"]
        assert "resources" in container

    def test_replicas_are_left_to_the_autoscaler_when_there_is_one(self, objects, service):
        deployment = _deployment(objects, service)
        name = deployment["metadata"]["name"]
        targets = {
            d["spec"]["scaleTargetRef"]["name"]
            for d in objects.of_kind("HorizontalPodAutoscaler") + objects.of_kind("ScaledObject")
        }
        if name in targets:
            # A fixed count here would fight the autoscaler on every apply.
            assert "replicas" not in deployment["spec"]
        else:
            assert deployment["spec"].get("replicas", 1) >= 1


class TestSecrets:
    def test_credential_key_secret_feeds_psa_sync(self, objects):
        env = _env(_server_container(_deployment(objects, "psa_sync")))
        ref = env["TRUEUP_CREDENTIAL_KEYS"]["valueFrom"]["secretKeyRef"]
        assert ref["key"] in objects.secret_keys(ref["name"])

    def test_jwt_secret_feeds_the_gateway(self, objects):
        env = _env(_server_container(_deployment(objects, "gateway")))
        ref = env["TRUEUP_JWT_SECRET"]["valueFrom"]["secretKeyRef"]
        assert ref["key"] in objects.secret_keys(ref["name"])

    def test_dev_credential_key_is_a_valid_fernet_key(self, render):
        secret = next(
            d
            for d in render("dev")
            if d["kind"] == "Secret" and d["metadata"]["name"] == "trueup-credential-key"
        )
        key = secret["stringData"]["TRUEUP_CREDENTIAL_KEYS"]
        assert len(base64.urlsafe_b64decode(key)) == 32

    def test_prod_declares_no_secret_values(self, render):
        assert not [d for d in render("prod") if d["kind"] == "Secret"]
