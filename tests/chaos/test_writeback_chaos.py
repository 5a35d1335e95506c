"""Chaos: 2,000 approvals reach the PSAs exactly once while the writeback process is
SIGKILLed five times and the simulators answer 10 % 500s and bursts of 429s.

Everything is real and separate: nats-server, the ConnectWise and Autotask simulators
(uvicorn subprocesses), and `python -m trueup.writeback` as a subprocess on its own
SQLite file. The only stand-in is psa_sync's connection query (see tests/writeback).

Run with `./task test-chaos`; prints the time taken and writes per second.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.processes import (
    ServiceProcess,
    inject_psa_faults,
    psa_simulator,
    wait_http,
    writeback_tuning,
)
from tests.writeback.harness import (
    AT_CONNECTION,
    CW_CONNECTION,
    TODAY,
    Commands,
    PsaSyncConnectionsStandIn,
    approve,
    at_credentials,
    cw_credentials,
    demo_line_items,
)
from trueup.devstack.psa_simulators.server import SimulatorControl
from trueup.devstack.runtime.nats_server import free_port
from trueup.platform.secrets import CredentialSealer

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]

PER_PSA = 1000
CW_PRORATED = 200  # of the ConnectWise approvals: dated, prorated (cancel-and-add)
KILLS = 5
ACCOUNTS, LINE_ITEMS = 400, 4000  # a demo MSP big enough for 1,000 distinct line items
DEADLINE_SECONDS = 600


def _statuses(database: Path) -> Counter[str]:
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall()
    return Counter({status: count for status, count in rows})


class Outcomes:
    """Distinct job outcomes seen on NATS (a relay may publish one twice after a kill)."""

    def __init__(self) -> None:
        self.by_job: dict[str, str] = {}
        self.messages = 0

    async def collect(self, msg: Any) -> None:
        self.messages += 1
        event = json.loads(msg.data)
        self.by_job[event["payload"]["job_id"]] = event["type"]


async def test_2000_approvals_exactly_once_through_kills_and_faults(
    clean_nats: str, tmp_path: Path, tenant_ids: tuple[str, str]
) -> None:
    tenant = tenant_ids[0]
    stand_in_key = CredentialSealer.generate_key()
    items = demo_line_items(PER_PSA, accounts=ACCOUNTS, line_items=LINE_ITEMS)
    assert len(items) == PER_PSA
    rng = random.Random(2026)
    cw_commands = [
        approve(
            item,
            item.quantity + rng.randint(1, 9),
            changes=None if i >= CW_PRORATED else [(TODAY, item.quantity + 1 + i % 5)],
            prorate=i < CW_PRORATED,
        )
        for i, item in enumerate(items)
    ]
    at_commands = [
        approve(
            item,
            item.quantity + rng.randint(1, 9),
            psa="autotask",
            connection_id=AT_CONNECTION,
        )
        for item in items
    ]
    database = tmp_path / "writeback.db"
    with (
        psa_simulator(
            "connectwise", tmp_path, accounts=ACCOUNTS, line_items=LINE_ITEMS, today=TODAY
        ) as cw_url,
        psa_simulator(
            "autotask", tmp_path, accounts=ACCOUNTS, line_items=LINE_ITEMS, today=TODAY
        ) as at_url,
    ):
        controls = [SimulatorControl(cw_url), SimulatorControl(at_url)]
        for url in (cw_url, at_url):
            await wait_http(f"{url}/_simulator/stats")
        connections = {
            CW_CONNECTION: ("connectwise", cw_credentials(cw_url)),
            AT_CONNECTION: ("autotask", at_credentials(at_url)),
        }
        sealer = CredentialSealer([stand_in_key])
        service = ServiceProcess(
            "writeback",
            {
                "TRUEUP_NATS_URL": clean_nats,
                "TRUEUP_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
                "TRUEUP_CREDENTIAL_KEYS": stand_in_key,
                "TRUEUP_HTTP_PORT": str(free_port()),
                "TRUEUP_LOG_LEVEL": "WARNING",
                **writeback_tuning(),
            },
            tmp_path / "writeback.log",
        )
        outcomes = Outcomes()
        stop_faults = asyncio.Event()
        listener = await nats.connect(clean_nats)
        await listener.subscribe(f"writeback.{tenant}.>", cb=outcomes.collect)
        total = len(cw_commands) + len(at_commands)
        faults = asyncio.create_task(
            inject_psa_faults(controls, stop_faults, lambda: len(outcomes.by_job) < total - 100)
        )
        try:
            async with (
                PsaSyncConnectionsStandIn(clean_nats, sealer, connections),
                Commands(clean_nats, tenant) as commands,
            ):
                service.start()
                await service.ready()
                started = time.monotonic()
                mixed = [c for pair in zip(cw_commands, at_commands, strict=True) for c in pair]
                for command in mixed:
                    await commands.send(command)
                # Kill at evenly spread points of progress, each a little off the mark.
                for k in range(1, KILLS + 1):
                    mark = total * k / (KILLS + 2) + rng.randint(-40, 40)
                    while len(outcomes.by_job) < mark:
                        assert time.monotonic() - started < DEADLINE_SECONDS, "too slow"
                        await asyncio.sleep(0.05)
                    service.kill()
                    service.start()
                while len(outcomes.by_job) < total:
                    assert time.monotonic() - started < DEADLINE_SECONDS, (
                        f"only {len(outcomes.by_job)} of {total} jobs final"
                    )
                    await asyncio.sleep(0.1)
                elapsed = time.monotonic() - started
        finally:
            service.stop()
            stop_faults.set()
            await asyncio.gather(faults, return_exceptions=True)
            await listener.close()
            if len(outcomes.by_job) < total:
                print("\njobs by status:", _statuses(database))  # noqa: T201
        for control in controls:
            await control.set_faults()
        cw_writes = await controls[0].writes()
        at_writes = await controls[1].writes()
        cw_stats = await controls[0].stats()
        at_stats = await controls[1].stats()

    # --- every job final, and applied --------------------------------------------------
    statuses = _statuses(database)
    with sqlite3.connect(database) as db:
        unfinished = db.execute("SELECT count(*) FROM job_schedule").fetchone()[0]
        errors = db.execute(
            "SELECT status, phase, attempts, last_error FROM jobs WHERE status != 'applied'"
        ).fetchall()
    assert statuses == Counter({"applied": total}), (statuses, errors[:10])
    assert unfinished == 0
    assert Counter(outcomes.by_job.values()) == Counter({"writeback.applied.v1": total})

    # --- the PSAs' write logs: one change per approval, no more, no less -------------
    patches: Counter[str] = Counter()
    posts: Counter[tuple[str, str]] = Counter()
    cancels: Counter[str] = Counter()
    patched_to: dict[str, Decimal] = {}
    for write in cw_writes:
        assert write["entity"] == "AgreementAddition", write
        if write["method"] == "POST":
            agreement = write["path"].split("/agreements/")[1].split("/")[0]
            posts[(agreement, str(write["body"]["product"]["id"]))] += 1
            continue
        paths = {op["path"] for op in write["body"]}
        if "cancelledDate" in paths:
            cancels[write["entity_id"]] += 1
        else:
            patches[write["entity_id"]] += 1
            patched_to[write["entity_id"]] = Decimal(str(write["body"][0]["value"]))
    adjustments: Counter[str] = Counter()
    adjusted_by: dict[str, Decimal] = {}
    for write in at_writes:
        if write["entity"] == "ContractServiceAdjustment":
            service_id = str(write["body"]["contractServiceID"])
            adjustments[service_id] += 1
            adjusted_by[service_id] = Decimal(write["body"]["unitChange"])
    notes = sum(1 for w in at_writes if w["entity"] == "ContractNote")

    applied = lost = duplicates = 0
    for command in cw_commands:
        target = command.changes[0].quantity
        line_id = command.line_item_psa_id or ""
        if command.prorate:
            n = posts[(command.contract_psa_id, command.product_id or "")]
            assert cancels[line_id] == n, command
        else:
            n = patches[line_id]
            if n:
                assert patched_to[line_id] == target
        applied += min(n, 1)
        lost += n == 0
        duplicates += max(n - 1, 0)
    for command in at_commands:
        line_id = command.line_item_psa_id or ""
        n = adjustments[line_id]
        if n:
            assert command.expected_quantity is not None
            delta = command.changes[0].quantity - command.expected_quantity
            assert adjusted_by[line_id] == delta
        applied += min(n, 1)
        lost += n == 0
        duplicates += max(n - 1, 0)

    changes = sum(patches.values()) + sum(posts.values()) + sum(adjustments.values())
    figures = {
        "approvals": total,
        "changes_applied": changes,
        "duplicates": duplicates,
        "lost": lost,
        "kills": service.kills,
        "seconds": round(elapsed, 1),
        "writes_per_second": round(changes / elapsed, 1),
        "outcome_messages": outcomes.messages,
        "autotask_notes": notes,
        "connectwise_statuses": cw_stats["statuses"],
        "autotask_statuses": at_stats["statuses"],
    }
    print("\nwriteback chaos:", json.dumps(figures))  # noqa: T201 (the report)
    assert service.kills == KILLS
    assert duplicates == 0
    assert lost == 0
    assert changes == total
    assert applied == total
    assert notes == PER_PSA  # one audit note per Autotask change, none repeated
    assert int(cw_stats["statuses"].get("500", 0)) > 0
    assert int(cw_stats["statuses"].get("429", 0)) > 0
    assert int(at_stats["statuses"].get("500", 0)) > 0
