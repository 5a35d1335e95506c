"""The import command: a durable consumer named `import` (KEDA scales on its lag); and
reconciliation's usage removals, which drop the raw rows they removed."""

from __future__ import annotations

from trueup.contracts.envelope import Envelope
from trueup.contracts.messages import ImportFile, UsageRemoved, subject_for
from trueup.platform.broker import durable_consumer
from trueup.platform.service import ServiceRuntime
from trueup.vendor_ingestion import imports, profiles

# A million-row file takes tens of seconds; JetStream must not redeliver it meanwhile.
IMPORT_ACK_WAIT_SECONDS = 15 * 60


def register(runtime: ServiceRuntime, context: imports.ImportContext) -> None:
    async def on_import(envelope: Envelope[ImportFile]) -> None:
        await imports.run_import(context, envelope)

    durable_consumer(
        runtime.broker,
        service=runtime.name,
        name="import",
        subject=subject_for(ImportFile, "*"),
        model=ImportFile,
        handler=on_import,
        max_deliver=runtime.settings.max_deliver,
        ack_wait_seconds=IMPORT_ACK_WAIT_SECONDS,
    )

    runtime.consume_once("usage-removed", {UsageRemoved: profiles.apply_usage_removed})
