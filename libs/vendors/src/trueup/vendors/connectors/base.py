"""A small framework for connectors that poll vendor APIs on a schedule.

A connector knows one vendor's API and turns it into usage records; the scheduler
decides when each connector polls and hands the records to a callback (the
vendor_ingestion service publishes them). HTTP concerns shared by connectors (retries
on 429 with Retry-After, OAuth client-credentials tokens) live in `http.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from trueup.vendors.usage import ReportedUsage

logger = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class ConnectorError(Exception):
    """A poll failed: the vendor refused credentials, kept failing, or answered nonsense."""

    def __init__(self, connector: str, reason: str) -> None:
        self.connector = connector
        self.reason = reason
        super().__init__(f"{connector}: {reason}")


@dataclass(frozen=True, slots=True)
class Schedule:
    """Poll every `every`, the first time `offset` after the epoch-aligned slot.

    Slots are aligned to the epoch so that every replica computes the same due times.
    """

    every: timedelta
    offset: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if self.every <= timedelta(0):
            raise ValueError("a schedule needs a positive interval")

    def next_run(self, after: datetime) -> datetime:
        """The first due time strictly after `after`."""
        epoch = datetime(1970, 1, 1, tzinfo=UTC) + self.offset
        slots = (after - epoch) // self.every + 1
        return epoch + slots * self.every


class Connector(ABC):
    """A vendor API source of usage: a name, a vendor tag, a schedule and `poll()`."""

    #: The kind of connector ("pax8", "ninjaone", "huntress").
    name: str
    #: The vendor tag given to records; by default the connector's name.
    vendor: str
    schedule: Schedule

    @abstractmethod
    async def poll(self) -> list[ReportedUsage]:
        """Read current usage from the vendor: one record per vendor account and SKU."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Release HTTP clients and other resources."""


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll produced: records, or the error that stopped it."""

    connector: str
    vendor: str
    started_at: datetime
    finished_at: datetime
    records: tuple[ReportedUsage, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the poll succeeded."""
        return self.error is None


async def poll_once(connector: Connector, *, clock: Clock = utc_now) -> PollResult:
    """Run one poll and capture its outcome; a failing vendor never raises here."""
    started = clock()
    try:
        records = await connector.poll()
    except Exception as error:  # one vendor's failure must not stop the others
        logger.warning("connector.poll_failed", connector=connector.name, error=str(error))
        # The stored error is shown to users: a ConnectorError says what failed in our
        # words; any other error's text may quote the vendor's answer, so it stays in the log.
        reason = str(error) if isinstance(error, ConnectorError) else "its answer could not be used"
        return PollResult(
            connector.name,
            connector.vendor,
            started,
            clock(),
            error=f"{type(error).__name__}: {reason}",
        )
    logger.info("connector.polled", connector=connector.name, records=len(records))
    return PollResult(connector.name, connector.vendor, started, clock(), tuple(records))


@dataclass
class Scheduler:
    """Runs each connector when its schedule is due and passes results to `on_result`."""

    connectors: Sequence[Connector]
    on_result: Callable[[PollResult], Awaitable[None]]
    clock: Clock = utc_now
    next_runs: dict[str, datetime] = field(default_factory=dict)

    def _key(self, connector: Connector) -> str:
        return f"{connector.name}:{connector.vendor}"

    def due(self, now: datetime) -> list[Connector]:
        """Connectors whose next run is at or before `now` (all of them the first time)."""
        return [c for c in self.connectors if self.next_runs.get(self._key(c), now) <= now]

    async def run_due(self) -> list[PollResult]:
        """Poll every due connector concurrently and schedule its next run."""
        now = self.clock()
        due = self.due(now)
        results = await asyncio.gather(*(poll_once(c, clock=self.clock) for c in due))
        for connector, result in zip(due, results, strict=True):
            self.next_runs[self._key(connector)] = connector.schedule.next_run(now)
            await self.on_result(result)
        return list(results)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll on schedule until `stop` is set."""
        while not stop.is_set():
            await self.run_due()
            now = self.clock()
            wake = min(self.next_runs.values(), default=now + timedelta(minutes=1))
            delay = max(0.0, min((wake - now).total_seconds(), 60.0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
