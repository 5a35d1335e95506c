"""Builds the gateway: the one HTTP door for people and scripts, and the web UI."""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts.envelope import Envelope
from trueup.contracts.messages import TenantDeleted
from trueup.gateway import problems
from trueup.gateway.cache import CredentialCache
from trueup.gateway.endpoints import (
    activity,
    auth,
    cards,
    connectors,
    cycles,
    events,
    imports,
    mappings,
    operator,
    preferences,
    usage,
    users,
    webhooks,
)
from trueup.gateway.endpoints import (
    settings as settings_endpoints,
)
from trueup.gateway.endpoints.common import document_renamed_fields
from trueup.gateway.identity import service as identity
from trueup.gateway.identity.dependencies import rate_limit_key
from trueup.gateway.identity.text import refuse_nul_in_json
from trueup.gateway.identity.throttle import LoginThrottle
from trueup.gateway.identity.tokens import SessionKeys
from trueup.gateway.live import LiveHub
from trueup.gateway.middleware import EdgeMiddleware
from trueup.gateway.models import metadata
from trueup.gateway.settings import Settings
from trueup.gateway.web import mount_web_app
from trueup.platform.service import ServiceRuntime
from trueup.platform.settings import secret_value
from trueup.platform.tenant_purge import purge_tenant
from trueup.platform.tenants import consume_tenant_deletions

MIGRATIONS = Path(__file__).parent / "migrations"
UPLOAD_PATHS = ("/api/v1/imports",)


def build(settings: Settings) -> tuple[ServiceRuntime, FastAPI]:
    # Refuse to start on a missing, published or short signing key (InsecureSecretError).
    session_keys = SessionKeys(settings.session_keys())
    operator_key = settings.operator_key()
    runtime = ServiceRuntime(settings, MIGRATIONS)
    live = LiveHub()
    live.register(runtime.broker)
    credentials = CredentialCache()

    async def forget_deleted(_session: AsyncSession, envelope: Envelope[TenantDeleted]) -> None:
        # The tenant's messages and uploads leave NATS here, once, and before the
        # gateway's rows commit: if NATS refuses, the deletion is redelivered and both are
        # tried again (a second purge finds only what arrived since). The deletion event
        # itself stays for the services still to read it (`tenant_purge`).
        await purge_tenant(runtime.broker, envelope.tenant_id)
        credentials.forget_tenant(envelope.tenant_id)

    # The gateway's rows (the tenant itself among them) go when the deletion reaches it.
    consume_tenant_deletions(runtime, metadata, after=forget_deleted)

    async def bootstrap() -> None:
        async with runtime.database.transaction() as session:
            await identity.bootstrap(
                session,
                tenant_id=settings.bootstrap_tenant_id,
                tenant_name=settings.bootstrap_tenant_name,
                email=settings.bootstrap_email,
                password=secret_value(settings.bootstrap_password),
                api_key=secret_value(settings.bootstrap_api_key),
            )

    runtime.on_start(bootstrap)

    def configure(app: FastAPI) -> None:
        app.state.settings = settings
        app.state.database = runtime.database
        app.state.broker = runtime.broker
        app.state.live = live
        app.state.pages = live.pages
        app.state.credentials = credentials
        app.state.operator_key = operator_key
        app.state.relay = runtime.relay
        app.state.session_keys = session_keys
        app.state.login_throttle = LoginThrottle(
            free_failures=settings.login_free_failures,
            free_failures_per_address=settings.login_free_failures_per_address,
            backoff_seconds=settings.login_backoff_seconds,
            max_backoff_seconds=settings.login_max_backoff_seconds,
        )
        app.state.query_timeout = settings.query_timeout_seconds
        problems.install(app)
        document_renamed_fields(app)
        if settings.cors_origins:
            app.add_middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_credentials=True,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "X-CSRF-Token", "Idempotency-Key"],
            )
        app.add_middleware(
            EdgeMiddleware,
            max_request_bytes=settings.max_request_bytes,
            max_upload_bytes=settings.max_upload_bytes,
            upload_paths=UPLOAD_PATHS,
            rate_per_minute=settings.rate_limit_per_minute,
            rate_key=rate_limit_key,
        )
        mount_web_app(app)

    app = runtime.http_app(
        auth.router,
        cards.router,
        cycles.router,
        activity.router,
        imports.router,
        usage.router,
        webhooks.router,
        connectors.router,
        mappings.router,
        settings_endpoints.router,
        users.router,
        preferences.router,
        events.router,
        operator.router,
        operator.activity_router,
        title="TrueUp API",
        configure=configure,
        dependencies=[Depends(refuse_nul_in_json)],
    )
    return runtime, app
