"""The demo MSP every PSA test compares against, built once for the whole run.

The demo's dates are relative to a day. The simulators are built per test, so
without one pinned day a run that crosses midnight (UTC) would compare a
simulator built today with an expected demo built yesterday.
"""

from __future__ import annotations

from datetime import UTC, datetime

from trueup.devstack.psa_simulators.demo import build_demo_msp

DEMO_TODAY = datetime.now(UTC).date()
DEMO = build_demo_msp(today=DEMO_TODAY)
