"""docker-compose.yml is a valid Compose file and runs the whole system: NATS with
JetStream, PostgreSQL, one-shot migrations, every service and the simulators, each
waiting for what it needs to be healthy."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from trueup.devstack.vendor_simulators import demo_connectors

REPO = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (REPO / "services").iterdir() if (p / "pyproject.toml").is_file())
SIMULATORS = {
    "trueup.devstack.psa_simulators.connectwise": 8101,
    "trueup.devstack.psa_simulators.autotask": 8102,
    "trueup.devstack.psa_simulators.halo": 8103,
    "trueup.devstack.vendor_simulators.pax8": 8111,
    "trueup.devstack.vendor_simulators.ninjaone": 8112,
    "trueup.devstack.vendor_simulators.huntress": 8113,
}


def dashed(service: str) -> str:
    return service.replace("_", "-")


def _built_from_the_dockerfile(build, service: str) -> bool:
    # Every image comes from deploy/Dockerfile; SERVICE says which.
    return build == {
        "context": ".",
        "dockerfile": "deploy/Dockerfile",
        "args": {"SERVICE": service},
    }


def _compose_spec_schema():
    # The official compose-spec JSON schema, vendored by check-jsonschema.
    path = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(path.read_text())


def _condition(service, dependency):
    depends_on = service.get("depends_on", {})
    assert isinstance(depends_on, dict), "depends_on must use conditions"
    return depends_on.get(dependency, {}).get("condition")


def test_compose_file_matches_the_compose_specification(compose):
    schema = _compose_spec_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors


def test_compose_schema_rejects_a_misspelt_service_field(compose):
    schema = _compose_spec_schema()
    broken = json.loads(json.dumps(compose))
    broken["services"]["nats"]["healtcheck"] = broken["services"]["nats"].pop("healthcheck")
    assert list(jsonschema.validators.validator_for(schema)(schema).iter_errors(broken))


def test_nats_runs_jetstream_with_a_healthcheck(compose):
    nats = compose["services"]["nats"]
    assert "--jetstream" in nats["command"] or "-js" in nats["command"]
    assert "healthcheck" in nats
    assert any("/data" in volume for volume in nats.get("volumes", []))


def test_postgres_creates_a_role_and_schema_per_service(compose):
    postgres = compose["services"]["postgres"]
    assert "healthcheck" in postgres
    init = [v for v in postgres["volumes"] if "docker-entrypoint-initdb.d" in v]
    assert len(init) == 1
    sql = (REPO / init[0].split(":")[0]).read_text()
    for service in SERVICES:
        assert f"CREATE ROLE trueup_{service} LOGIN" in sql
        assert f"CREATE SCHEMA {service} AUTHORIZATION trueup_{service}" in sql
    assert "SUPERUSER NOBYPASSRLS" in sql
    assert " SUPERUSER " not in sql.replace("NOSUPERUSER", "")


@pytest.mark.parametrize("service", SERVICES)
class TestComposeService:
    def test_migration_runs_once_before_the_service(self, compose, service):
        migrate = compose["services"].get(f"migrate-{dashed(service)}")
        assert migrate is not None, f"no migrate-{dashed(service)} service"
        assert _built_from_the_dockerfile(migrate["build"], service), migrate["build"]
        assert migrate["image"] == f"trueup/{dashed(service)}:dev"
        assert migrate["command"] == ["migrate"]
        assert migrate.get("restart", "no") == "no"
        assert _condition(migrate, "postgres") == "service_healthy"
        env = migrate["environment"]
        assert env["TRUEUP_DATABASE_SCHEMA"] == service

    def test_service_is_built_from_the_dockerfile_and_waits_for_its_dependencies(
        self, compose, service
    ):
        container = compose["services"].get(dashed(service))
        assert container is not None, f"no compose service for {service}"
        assert _built_from_the_dockerfile(container["build"], service), container["build"]
        assert (REPO / container["build"]["dockerfile"]).is_file()
        assert container["image"] == compose["services"][f"migrate-{dashed(service)}"]["image"]
        assert _condition(container, "nats") == "service_healthy"
        assert (
            _condition(container, f"migrate-{dashed(service)}") == "service_completed_successfully"
        )
        assert "/readyz" in " ".join(container["healthcheck"]["test"])

    def test_service_settings_point_at_compose_nats_and_postgres(self, compose, service):
        env = compose["services"][dashed(service)]["environment"]
        migrate_env = compose["services"][f"migrate-{dashed(service)}"]["environment"]
        assert env["TRUEUP_NATS_URL"] == "nats://nats:4222"
        assert env["TRUEUP_DATABASE_URL"].startswith(f"postgresql+asyncpg://trueup_{service}:")
        assert "@postgres:5432/" in env["TRUEUP_DATABASE_URL"]
        assert env["TRUEUP_DATABASE_SCHEMA"] == service
        assert env["TRUEUP_HTTP_PORT"] == "8080"
        assert env["TRUEUP_HTTP_HOST"] == "0.0.0.0"
        assert migrate_env == env


def test_only_gateway_and_webhooks_are_published_on_the_host(compose):
    published = {
        name
        for name, service in compose["services"].items()
        if service.get("ports") and name not in {"nats", "postgres"}
    }
    assert published == {"gateway", "vendor-ingestion"}


def test_every_simulator_runs_with_a_healthcheck(compose):
    found = {}
    for service in compose["services"].values():
        entrypoint = service.get("entrypoint") or []
        if len(entrypoint) > 2 and entrypoint[:2] == ["python", "-m"]:
            found[entrypoint[2]] = service
    assert set(found) == set(SIMULATORS)
    for module, port in SIMULATORS.items():
        service = found[module]
        assert str(port) in service["entrypoint"]
        assert service["entrypoint"][3:5] == ["--host", "0.0.0.0"]
        assert "healthcheck" in service


def test_simulators_come_from_the_development_stack_image(compose):
    for service in compose["services"].values():
        entrypoint = service.get("entrypoint") or []
        if entrypoint[2:3] and entrypoint[2] in SIMULATORS:
            assert _built_from_the_dockerfile(service["build"], "devstack"), service["build"]
            assert service["image"] == "trueup/devstack:dev"
            # The image's healthcheck asks for /healthz, which no simulator serves.
            assert "/healthz" not in " ".join(service["healthcheck"]["test"])


def test_every_image_is_built_from_the_one_dockerfile(compose):
    builds: dict[str, dict] = {}
    for name, service in compose["services"].items():
        if "build" not in service:
            continue
        build = service["build"]
        assert build["dockerfile"] == "deploy/Dockerfile", name
        assert build["args"]["SERVICE"] in [*SERVICES, "devstack"], name
        # One tag, one build: two services naming the same image build it alike.
        assert builds.setdefault(service["image"], build) == build, name


def test_the_demo_connectors_point_at_the_compose_vendor_simulators(compose):
    env = compose["services"]["vendor-ingestion"]["environment"]
    # The simulators' own demo credentials, at their compose names.
    assert json.loads(env["TRUEUP_DEMO_CONNECTORS"]) == demo_connectors(
        {
            "pax8": "http://pax8-sim:8111",
            "ninjaone": "http://ninjaone-sim:8112",
            "huntress": "http://huntress-sim:8113",
        }
    )


def test_no_secret_has_a_published_default(compose):
    """Compose refuses to start without the signing and sealing keys instead of falling
    back to a value anyone can read here."""
    text = (REPO / "docker-compose.yml").read_text()
    for name in ("TRUEUP_JWT_SECRET", "TRUEUP_CREDENTIAL_KEYS"):
        uses = [env[name] for env in _environments(compose) if name in env]
        assert uses, name
        assert all(value.startswith(f"${{{name}:?") for value in uses), (name, uses)
        assert f"${{{name}:-" not in text, name


def _environments(compose):
    return [
        service.get("environment", {})
        for service in compose["services"].values()
        if isinstance(service.get("environment"), dict)
    ]
