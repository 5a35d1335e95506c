"""Every service in services/ is deployable by itself: an image, a Deployment with
probes, resources and a PodDisruptionBudget, a Service, a migration Job and the
Secrets it reads, in both overlays.

The list of services comes from the services/ folder, so a new service fails here
until it has all of these.

Every image comes from one file, deploy/Dockerfile, whose SERVICE build argument names
the service (or devstack, the simulators' image). Without a Docker engine, the checks
read that file for each value of SERVICE and run the shell its RUN instructions and its
entry point would run, with `uv`, `npm` and `python` replaced by stand-ins that record
their arguments.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "Dockerfile"
SERVICES = sorted(p.name for p in (REPO / "services").iterdir() if (p / "pyproject.toml").is_file())
DEVSTACK = "devstack"
# Every value of SERVICE: the services, and the development stack's simulators.
IMAGES = [*SERVICES, DEVSTACK]
WORKSPACE_MEMBERS = sorted(
    p.parent.relative_to(REPO).as_posix()
    for pattern in tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["uv"]["workspace"][
        "members"
    ]
    for p in REPO.glob(f"{pattern}/pyproject.toml")
)
HTTP_PORT = 8080


def dashed(service: str) -> str:
    return service.replace("_", "-")


def package_of(service: str) -> str:
    return f"trueup-{dashed(service)}"


def test_services_are_discovered():
    assert {"gateway", "reconciliation", "vendor_ingestion"} <= set(SERVICES)
    assert {"libs/platform", "services/gateway", "tools/devstack"} <= set(WORKSPACE_MEMBERS)


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


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """deploy/Dockerfile's instructions by stage (`FROM image AS name`), in order; the
    instructions before the first FROM are under ""."""
    stages: dict[str, list[tuple[str, str]]] = {"": []}
    current = ""
    for keyword, args in _dockerfile_instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            current = args.split()[-1] if " AS " in args.upper() else args
            stages[current] = []
        stages[current].append((keyword, args))
    return stages


def _final_stage() -> list[tuple[str, str]]:
    return list(dockerfile_stages().values())[-1]


def _script(run_args: str) -> str:
    """A RUN instruction's shell script, without its flags (--mount=...)."""
    return re.sub(r"^(?:--\S+\s+)*", "", run_args)


def _runs(stage: str) -> list[str]:
    return [_script(args) for keyword, args in dockerfile_stages()[stage] if keyword == "RUN"]


def run_script(
    script: str,
    service: str | None,
    *,
    cwd: Path = REPO,
    path: str | None = None,
    prelude: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run a RUN instruction's script the way the build would: /bin/sh -c, with SERVICE in
    the environment as an ARG is (absent when `service` is None)."""
    env = {"PATH": path or os.environ.get("PATH", "/usr/bin:/bin")}
    if service is not None:
        env["SERVICE"] = service
    return subprocess.run(
        ["/bin/sh", "-c", prelude + script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def uv_sync_calls(service: str) -> list[list[str]]:
    """The flags of each `uv sync` the builder stage runs for SERVICE=service, in order,
    as the shell expands them (each RUN in its own shell, as in a build)."""
    # A shell function named uv records its arguments instead of running uv.
    recorder = "uv() { printf '%s\\0' \"$@\"; printf '\\n'; }\n"
    calls = []
    for script in _runs("builder"):
        if "uv sync" not in script:
            continue
        done = run_script(script, service, prelude=recorder)
        assert done.returncode == 0, done.stderr
        for line in done.stdout.splitlines():
            call = line.split("\0")[:-1]
            if call[:1] == ["sync"]:
                calls.append(call[1:])
    return calls


def image_environment(service: str) -> dict[str, str]:
    """The final stage's ENV for SERVICE=service (Docker expands ARGs in ENV)."""
    env = {}
    for keyword, args in _final_stage():
        if keyword == "ENV":
            for pair in shlex.split(args):
                name, _, value = pair.partition("=")
                env[name] = value.replace("${SERVICE}", service).replace("$SERVICE", service)
    return env


def image_entrypoint() -> list[str]:
    (entrypoint,) = [
        json.loads(args) for keyword, args in _final_stage() if keyword == "ENTRYPOINT"
    ]
    assert not [args for keyword, args in _final_stage() if keyword == "CMD"]
    return entrypoint


def workspace_dependencies(package: str) -> set[str]:
    """`package` and every workspace package it depends on, transitively."""
    pyprojects = {
        data["project"]["name"]: data
        for data in (
            tomllib.loads((REPO / member / "pyproject.toml").read_text())
            for member in WORKSPACE_MEMBERS
        )
    }
    found: set[str] = set()
    todo = [package]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        for requirement in pyprojects[name]["project"].get("dependencies", []):
            dependency = re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0]
            if dependency in pyprojects:
                todo.append(dependency)
    return found


def _member_of(package: str) -> str:
    for member in WORKSPACE_MEMBERS:
        if (
            tomllib.loads((REPO / member / "pyproject.toml").read_text())["project"]["name"]
            == package
        ):
            return member
    raise AssertionError(f"{package} is no workspace member")


def _dockerfiles() -> list[str]:
    found = []
    for folder, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "node_modules"]
        for name in files:
            if (
                name in {"Dockerfile", "Containerfile"}
                or name.startswith("Dockerfile.")
                or name.endswith(".Dockerfile")
            ):
                found.append((Path(folder) / name).relative_to(REPO).as_posix())
    return sorted(found)


def test_one_dockerfile_builds_every_image():
    # One way to build an image: a second Dockerfile would drift from this one.
    assert _dockerfiles() == ["deploy/Dockerfile"]


class TestServiceArgument:
    def test_service_is_a_required_build_argument(self):
        stages = dockerfile_stages()
        assert ("ARG", "SERVICE") in stages[""], "declare SERVICE without a default"
        for name in ("ui", "builder", "runtime"):
            # An ARG is visible in a stage only when declared again after its FROM.
            assert ("ARG", "SERVICE") in stages[name], name

    def test_a_build_without_service_fails_before_installing_anything(self):
        check, *rest = _runs("builder")
        assert "uv sync" not in check
        assert any("uv sync" in script for script in rest)
        for missing in (None, ""):
            done = run_script(check, missing)
            assert done.returncode != 0
            assert "SERVICE is not set" in done.stderr
            assert "--build-arg SERVICE=" in done.stderr

    @pytest.mark.parametrize("wrong", ["psa-sync", "trueup-gateway", "nope"])
    def test_a_service_that_is_no_workspace_folder_fails(self, wrong):
        check = _runs("builder")[0]
        done = run_script(check, wrong)
        assert done.returncode != 0
        assert f"SERVICE={wrong}" in done.stderr

    @pytest.mark.parametrize("image", IMAGES)
    def test_every_service_and_devstack_pass_the_check(self, image):
        done = run_script(_runs("builder")[0], image)
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("service", IMAGES)
class TestImage:
    def test_dockerfile_is_multi_stage_and_syncs_only_this_package_from_the_lockfile(self, service):
        stages = dockerfile_stages()
        assert {"builder", "runtime"} <= set(stages), "multi-stage build expected"
        syncs = uv_sync_calls(service)
        assert syncs, "the image must be built with uv sync"
        for flags in syncs:
            assert "--frozen" in flags, flags
            assert "--no-dev" in flags, flags
            assert flags[flags.index("--package") + 1] == package_of(service), flags

    def test_dependencies_are_installed_before_the_sources_are_copied(self, service):
        # Step 1 (third-party dependencies) is cached until uv.lock or a pyproject
        # changes; step 2 installs the workspace packages as wheels.
        first, *_, last = uv_sync_calls(service)
        assert "--no-install-workspace" in first
        assert "--no-editable" in last
        assert "--no-install-workspace" not in last
        builder = dockerfile_stages()["builder"]
        step_one = next(
            i for i, (keyword, args) in enumerate(builder) if keyword == "RUN" and "uv sync" in args
        )
        for keyword, args in builder[:step_one]:
            if keyword == "COPY" and not args.startswith("--from"):
                *sources, _ = args.split()
                assert all(s.endswith(("pyproject.toml", "uv.lock")) for s in sources), args

    def test_dockerfile_copies_every_workspace_member_manifest(self, service):
        # uv reads the whole workspace even when installing one package; a new lib or
        # service missing here breaks `uv sync --frozen` inside the image.
        text = DOCKERFILE.read_text()
        for member in WORKSPACE_MEMBERS:
            assert f"COPY {member}/pyproject.toml" in text, member

    def test_dockerfile_copies_the_sources_of_every_package_the_image_installs(self, service):
        copied = [
            args.split()[0]
            for keyword, args in dockerfile_stages()["builder"]
            if keyword == "COPY" and not args.startswith("--from")
        ]
        for package in workspace_dependencies(package_of(service)):
            member = _member_of(package)
            assert any(f"{member}/".startswith(folder) for folder in copied), member

    def test_image_runs_as_non_root_with_a_healthcheck(self, service):
        final_stage = _final_stage()
        users = [args for keyword, args in final_stage if keyword == "USER"]
        assert users, "the final stage must set USER"
        assert users[-1].split(":")[0] not in {"root", "0"}
        healthchecks = [args for keyword, args in final_stage if keyword == "HEALTHCHECK"]
        assert healthchecks
        assert "/healthz" in healthchecks[-1]
        env = image_environment(service)
        assert env["TRUEUP_HTTP_PORT"] == str(HTTP_PORT)
        assert env["TRUEUP_HTTP_HOST"] == "0.0.0.0"

    @pytest.mark.parametrize("arguments", [[], ["migrate"], ["migrate", "two words"]])
    def test_entry_point_execs_the_service_module_with_the_arguments(
        self, service, arguments, tmp_path
    ):
        # `docker run IMAGE migrate` appends `migrate` to the entry point. A stand-in
        # python prints its process id and arguments: the same id as the process the
        # entry point started means the shell replaced itself (exec), so the
        # container's signals reach python.
        stand_in = tmp_path / "python"
        stand_in.write_text('#!/bin/sh\nprintf \'%s\\n\' "$$" "$@"\n')
        stand_in.chmod(0o755)
        env = {**image_environment(service), "PATH": str(tmp_path)}
        started = subprocess.Popen(
            [*image_entrypoint(), *arguments],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out, err = started.communicate(timeout=30)
        assert started.returncode == 0, err
        pid, *argv = out.splitlines()
        assert argv == ["-m", f"trueup.{service}", *arguments]
        assert int(pid) == started.pid

    def test_only_the_gateway_image_builds_the_web_ui(self, service, tmp_path):
        (ui,) = _runs("ui")
        web = tmp_path / "services/gateway/web"
        web.mkdir(parents=True)
        (web / "package.json").write_text("{}")
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        npm = bin_dir / "npm"
        npm.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path / "npm.log"}\n')
        npm.chmod(0o755)
        done = run_script(ui, service, cwd=tmp_path, path=f"{bin_dir}:{os.environ.get('PATH', '')}")
        assert done.returncode == 0, done.stderr
        # The runtime stage mounts this folder for every image.
        assert (tmp_path / "services/gateway/src/trueup/gateway/static").is_dir()
        log = tmp_path / "npm.log"
        if service == "gateway":
            calls = log.read_text().splitlines()
            assert calls[0].startswith("ci")
            assert calls[-1] == "run build"
        else:
            assert not log.exists()

    def test_only_the_gateway_image_takes_the_web_ui(self, service):
        (copy,) = [
            args
            for keyword, args in _final_stage()
            if keyword == "RUN" and "trueup/gateway/static" in args
        ]
        assert "--mount=type=bind,from=ui," in copy
        if service != "gateway":
            # It does nothing (here, without /app/.venv, it would fail if it tried).
            done = run_script(_script(copy), service)
            assert done.returncode == 0, done.stderr
            assert not done.stdout


def test_dockerignore_keeps_local_state_out_of_the_build_context():
    ignored = (REPO / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "**/node_modules", ".data"):
        assert entry in ignored
    for needed in ("libs", "services", "tools", "pyproject.toml", "uv.lock"):
        assert needed not in ignored


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

    def test_the_gateway_sees_client_addresses_only_through_the_ingress(self, objects):
        # Behind the ingress every client would otherwise share one address: one budget,
        # and 21 wrong passwords from anyone would lock every sign-in.
        env = _env(_server_container(_deployment(objects, "gateway")))
        assert env["FORWARDED_ALLOW_IPS"]["value"] == "*"
        policy = next(
            o
            for o in objects.of_kind("NetworkPolicy")
            if o["spec"]["podSelector"]["matchLabels"].get("trueup.io/service") == "gateway"
        )
        sources = [s for rule in policy["spec"]["ingress"] for s in rule["from"]]
        assert sources == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
        ]

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
