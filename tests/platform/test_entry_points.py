"""Every service starts the way `./task up` and the images start it: `python -m trueup.<svc>`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SERVICES = ("gateway", "psa_sync", "vendor_ingestion", "reconciliation", "writeback", "audit")


@pytest.mark.parametrize("service", SERVICES)
def test_migrate_runs_from_the_command_line(service: str, tmp_path: Path) -> None:
    # A fresh interpreter imports the service first, as a container does: this catches
    # import cycles that a test process, with everything already imported, would hide.
    env = {**os.environ, "TRUEUP_DATA_DIR": str(tmp_path), "TRUEUP_LOG_LEVEL": "WARNING"}
    env.pop("TRUEUP_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", f"trueup.{service}", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / f"{service}.db").exists()
