"""A PSA simulator run as a process dates its demo MSP from the day it is given.

The chaos and load suites start simulators as processes and build their expectations
from the demo MSP in the test: both must be dated from the same day, or a run that
crosses midnight compares yesterday's expectations with today's simulator.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tests.processes import psa_simulator, wait_http
from tests.writeback.harness import cw_credentials
from trueup.devstack.psa_simulators.demo import build_demo_msp
from trueup.psa import ConnectWiseClient, ConnectWiseCredentials

DAY = date(2026, 1, 15)


async def test_the_demo_is_dated_from_the_day_given(tmp_path: Path) -> None:
    with psa_simulator("connectwise", tmp_path, accounts=48, line_items=600, today=DAY) as url:
        await wait_http(f"{url}/_simulator/stats")
        async with ConnectWiseClient(ConnectWiseCredentials(**cw_credentials(url))) as client:
            served = {c.id: (c.start_date, c.end_date) async for c in client.list_contracts()}
    demo = build_demo_msp(today=DAY)
    assert served == {str(c.id): (c.start_date, c.end_date) for c in demo.contracts}
    # Dated from that day, not from the wall clock's.
    assert served != {str(c.id): (c.start_date, c.end_date) for c in build_demo_msp().contracts}
