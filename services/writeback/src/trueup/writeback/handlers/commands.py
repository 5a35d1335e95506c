"""`cmd.writeback.<tenant>.apply` and `.retry`: record, then let the worker drive."""

from __future__ import annotations

from collections.abc import Callable

from trueup.contracts.messages import ApplyWriteback, RetryWriteback
from trueup.platform.service import ServiceRuntime
from trueup.writeback import service


def register(runtime: ServiceRuntime, wake: Callable[[], None]) -> None:
    # Record first: the job (or the finding that its key is known) and the inbox entry
    # commit together, before anything is sent to a PSA; the worker sends it after.
    def wake_when_recorded(recorded: object) -> None:
        if recorded is not None:
            wake()

    def wake_when_requeued(requeued: object) -> None:
        if requeued:
            wake()

    # Jobs are independent and keyed, so a batch may be recorded in any order.
    runtime.consume_once(
        "apply", {ApplyWriteback: service.record_job}, after=wake_when_recorded, batch_size=32
    )
    runtime.consume_once("retry", {RetryWriteback: service.retry_job}, after=wake_when_requeued)
