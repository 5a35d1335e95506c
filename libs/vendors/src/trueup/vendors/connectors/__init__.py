"""Connectors that poll vendor APIs on a schedule, and the framework that runs them."""

from trueup.vendors.connectors.base import (
    Connector,
    ConnectorError,
    PollResult,
    Schedule,
    Scheduler,
    poll_once,
)
from trueup.vendors.connectors.huntress import HuntressConnector
from trueup.vendors.connectors.ninjaone import NinjaOneConnector
from trueup.vendors.connectors.pax8 import Pax8Connector

__all__ = [
    "Connector",
    "ConnectorError",
    "HuntressConnector",
    "NinjaOneConnector",
    "Pax8Connector",
    "PollResult",
    "Schedule",
    "Scheduler",
    "poll_once",
]
