"""Queries from the gateway: the import wizard, usage, profiles, webhook endpoints,
connectors."""

from __future__ import annotations

from collections.abc import Callable

from trueup.contracts.envelope import Envelope
from trueup.contracts.ingest import (
    CheckConnector,
    CommitImport,
    CommitOutcome,
    ConnectorDeleted,
    ConnectorList,
    ConnectorTestResult,
    ConnectorView,
    CreateWebhookEndpoint,
    DeleteConnector,
    DeleteProfile,
    DeleteWebhookEndpoint,
    GetImport,
    ImportList,
    ImportView,
    InspectImport,
    ListConnectors,
    ListImports,
    ListProfiles,
    ListUsage,
    ListWebhookEndpoints,
    ProfileDeleted,
    ProfileList,
    ProfileView,
    RenameProfile,
    RotateWebhookSecret,
    RunConnector,
    SaveConnector,
    UsagePage,
    WebhookEndpointDeleted,
    WebhookEndpointList,
    WebhookSecretIssued,
)
from trueup.platform.broker import query_responder
from trueup.platform.service import ServiceRuntime
from trueup.vendor_ingestion import connector_admin, imports, profiles, webhooks
from trueup.vendor_ingestion.connectors import ConnectorScheduler


def register(
    runtime: ServiceRuntime,
    context: imports.ImportContext,
    receiver: webhooks.WebhookReceiver,
    scheduler: ConnectorScheduler,
    *,
    test_seconds: float,
    wake_scheduler: Callable[[], None],
) -> None:
    broker, service, database = runtime.broker, runtime.name, runtime.database

    async def inspect(envelope: Envelope[InspectImport]) -> ImportView:
        return await imports.inspect_upload(context, envelope)

    async def commit(envelope: Envelope[CommitImport]) -> CommitOutcome:
        return await imports.commit_import(context, envelope)

    async def get_import(envelope: Envelope[GetImport]) -> ImportView:
        return await imports.get_import(context, envelope)

    async def list_imports(envelope: Envelope[ListImports]) -> ImportList:
        return await imports.list_imports(context, envelope)

    async def list_usage(envelope: Envelope[ListUsage]) -> UsagePage:
        return await imports.list_usage(database, envelope)

    async def list_profiles(envelope: Envelope[ListProfiles]) -> ProfileList:
        return await profiles.list_profiles(database, envelope)

    async def rename_profile(envelope: Envelope[RenameProfile]) -> ProfileView:
        view = await profiles.rename_profile(database, envelope)
        runtime.relay.notify()
        return view

    async def delete_profile(envelope: Envelope[DeleteProfile]) -> ProfileDeleted:
        deleted = await profiles.delete_profile(database, envelope)
        runtime.relay.notify()
        return deleted

    async def list_endpoints(envelope: Envelope[ListWebhookEndpoints]) -> WebhookEndpointList:
        return await webhooks.list_endpoints(database, envelope)

    async def create_endpoint(envelope: Envelope[CreateWebhookEndpoint]) -> WebhookSecretIssued:
        return await webhooks.create_endpoint(database, receiver, envelope)

    async def rotate(envelope: Envelope[RotateWebhookSecret]) -> WebhookSecretIssued:
        return await webhooks.rotate_secret(database, receiver, envelope)

    async def delete_endpoint(envelope: Envelope[DeleteWebhookEndpoint]) -> WebhookEndpointDeleted:
        return await webhooks.delete_endpoint(database, receiver, envelope)

    async def list_connectors(envelope: Envelope[ListConnectors]) -> ConnectorList:
        return await connector_admin.list_connectors(scheduler, envelope)

    async def save_connector(envelope: Envelope[SaveConnector]) -> ConnectorView:
        return await connector_admin.save_connector(scheduler, envelope)

    async def delete_connector(envelope: Envelope[DeleteConnector]) -> ConnectorDeleted:
        return await connector_admin.delete_connector(scheduler, envelope)

    async def check_connector(envelope: Envelope[CheckConnector]) -> ConnectorTestResult:
        return await connector_admin.check_connector(scheduler, envelope, test_seconds=test_seconds)

    async def run_connector(envelope: Envelope[RunConnector]) -> ConnectorView:
        return await connector_admin.run_connector(scheduler, envelope, wake_scheduler)

    for model, handler in (
        (DeleteWebhookEndpoint, delete_endpoint),
        (ListConnectors, list_connectors),
        (SaveConnector, save_connector),
        (DeleteConnector, delete_connector),
        (CheckConnector, check_connector),
        (RunConnector, run_connector),
    ):
        query_responder(broker, service=service, model=model, handler=handler)  # type: ignore[arg-type]
    query_responder(
        broker,
        service=service,
        model=InspectImport,
        handler=inspect,
    )
    query_responder(
        broker,
        service=service,
        model=CommitImport,
        handler=commit,
    )
    query_responder(
        broker,
        service=service,
        model=GetImport,
        handler=get_import,
    )
    query_responder(
        broker,
        service=service,
        model=ListImports,
        handler=list_imports,
    )
    query_responder(
        broker,
        service=service,
        model=ListUsage,
        handler=list_usage,
    )
    query_responder(
        broker,
        service=service,
        model=ListProfiles,
        handler=list_profiles,
    )
    query_responder(
        broker,
        service=service,
        model=RenameProfile,
        handler=rename_profile,
    )
    query_responder(
        broker,
        service=service,
        model=DeleteProfile,
        handler=delete_profile,
    )
    query_responder(
        broker,
        service=service,
        model=ListWebhookEndpoints,
        handler=list_endpoints,
    )
    query_responder(
        broker,
        service=service,
        model=CreateWebhookEndpoint,
        handler=create_endpoint,
    )
    query_responder(
        broker,
        service=service,
        model=RotateWebhookSecret,
        handler=rotate,
    )
