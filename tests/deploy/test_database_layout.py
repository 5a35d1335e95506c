"""The PostgreSQL layout of the deployments works with the services' own migrations:
one schema per service, owned by a login role that is neither superuser nor BYPASSRLS,
and no role can create anything outside its schema.

Runs deploy/compose/postgres-init.sql (the same statements as the CloudNativePG
bootstrap, checked below) in a scratch database of TRUEUP_TEST_POSTGRES_URL, with role
names made unique for the run, then `python -m trueup.<service> migrate` as each role.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (REPO / "services").iterdir() if (p / "pyproject.toml").is_file())
INIT_SQL = REPO / "deploy/compose/postgres-init.sql"
POSTGRES_URL = os.environ.get("TRUEUP_TEST_POSTGRES_URL", "")


def _statements(sql: str) -> list[str]:
    without_comments = re.sub(r"--[^\n]*", "", sql)
    return [" ".join(s.split()) for s in without_comments.split(";") if s.strip()]


def test_compose_and_cnpg_bootstrap_build_the_same_layout():
    cluster = yaml.safe_load((REPO / "deploy/k8s/base/postgres.yaml").read_text())
    cnpg = [
        " ".join(s.split())
        for s in cluster["spec"]["bootstrap"]["initdb"]["postInitApplicationSQL"]
    ]
    compose = [
        # Compose creates login roles with their password at once; CloudNativePG creates
        # them NOLOGIN and its managed roles add the login and password.
        re.sub(r" LOGIN PASSWORD '[^']*'", " NOLOGIN", statement)
        for statement in _statements(INIT_SQL.read_text())
    ]
    assert sorted(compose) == sorted(cnpg)


def _url(base: str, *, user: str | None = None, database: str | None = None, driver: str = ""):
    parts = urlsplit(base.replace("+asyncpg", ""))
    netloc = parts.netloc
    if user is not None:
        host = netloc.rsplit("@", 1)[-1]
        netloc = f"{user}:{user}@{host}"
    path = f"/{database}" if database is not None else parts.path
    return urlunsplit((f"postgresql{driver}", netloc, path, "", ""))


async def _execute(url: str, sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _fetch(url: str, sql: str, *args: object) -> list[tuple]:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await connection.fetch(sql, *args)]
    finally:
        await connection.close()


_MIGRATE_ALL = """
import json, os, runpy, sys
for service, env in json.loads(sys.argv[1]).items():
    os.environ.update(env)
    sys.argv = ["python -m trueup." + service, "migrate"]
    try:
        runpy.run_module("trueup." + service, run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        if exit.code not in (None, 0):
            sys.exit(f"{service}: migrate exited with {exit.code}")
"""


@pytest.fixture
def scratch_database():
    if not POSTGRES_URL:
        pytest.skip("TRUEUP_TEST_POSTGRES_URL is not set")
    suffix = secrets.token_hex(3)
    database = f"trueup_deploy_{suffix}"
    roles = {service: f"trueup_{service}_{suffix}" for service in SERVICES}
    sql = INIT_SQL.read_text()
    for service, role in roles.items():
        sql = re.sub(rf"\btrueup_{service}\b", role, sql)
        # Passwords equal role names here, so each URL can be derived from the role.
        sql = re.sub(rf"(ROLE {role} LOGIN PASSWORD )'[^']*'", rf"\1'{role}'", sql)
    admin = _url(POSTGRES_URL)
    asyncio.run(_execute(admin, f'CREATE DATABASE "{database}"'))
    try:
        asyncio.run(_execute(_url(POSTGRES_URL, database=database), sql))
        yield database, roles
    finally:
        asyncio.run(_execute(admin, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        for role in roles.values():
            asyncio.run(_execute(admin, f'DROP ROLE IF EXISTS "{role}"'))


@pytest.mark.postgres
def test_every_service_migrates_into_its_own_schema_as_its_own_role(scratch_database, tmp_path):
    database, roles = scratch_database
    environments = {
        service: {
            "TRUEUP_DATABASE_URL": _url(
                POSTGRES_URL, user=role, database=database, driver="+asyncpg"
            ),
            "TRUEUP_DATABASE_SCHEMA": service,
            "TRUEUP_DATA_DIR": str(tmp_path / service),
            "TRUEUP_LOG_LEVEL": "WARNING",
        }
        for service, role in roles.items()
    }
    # `python -m trueup.<service> migrate`, exactly as the Jobs run it, but all six in one
    # interpreter so the shared libraries are imported once.
    result = subprocess.run(
        [sys.executable, "-c", _MIGRATE_ALL, json.dumps(environments)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    url = _url(POSTGRES_URL, database=database)
    tables = asyncio.run(
        _fetch(
            url,
            "SELECT schemaname, tableowner, count(*) FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') GROUP BY 1, 2",
        )
    )
    owners = {schema: owner for schema, owner, _ in tables}
    assert set(owners) == set(SERVICES), "every table lives in its service's schema"
    for service, role in roles.items():
        assert owners[service] == role
    privileged = asyncio.run(
        _fetch(
            url,
            "SELECT rolname FROM pg_roles WHERE (rolsuper OR rolbypassrls) AND rolname = ANY($1)",
            list(roles.values()),
        )
    )
    assert privileged == []


@pytest.mark.postgres
def test_a_service_role_cannot_create_outside_its_schema(scratch_database):
    database, roles = scratch_database
    import asyncpg

    as_gateway = _url(POSTGRES_URL, user=roles["gateway"], database=database)
    for target in ("audit", "public"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            asyncio.run(_execute(as_gateway, f"CREATE TABLE {target}.intruder (id int)"))
