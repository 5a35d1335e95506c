"""`python -m trueup.gateway.operator tenants create|list|suspend|resume|delete|invite`.

The operator's command line: it needs only the gateway's database settings
(`TRUEUP_DATABASE_URL` or `TRUEUP_DATA_DIR`), the same ones `python -m trueup.gateway
migrate` uses. Every change is staged in the gateway's outbox with its event; the running
gateway publishes them within its outbox poll interval, and the audit log keeps them in
the operator's scope under the name of whoever ran the command (`--actor`, by default the
user logged in to the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from trueup.contracts.messages import Actor
from trueup.gateway.main import MIGRATIONS
from trueup.gateway.settings import Settings
from trueup.gateway.tenants import service
from trueup.gateway.tenants.service import (
    TenantConflictError,
    TenantNotFoundError,
    operator_actor,
)
from trueup.platform.database import Database
from trueup.platform.logging import configure_logging
from trueup.platform.migrations import upgrade


def _os_user() -> str:
    """Who is logged in to run the command, for the audit log when `--actor` is not given."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        # A container's user may have no name (no entry in /etc/passwd, no $USER).
        return f"uid {os.getuid()}"


def _actor(text: str) -> Actor:
    try:
        return operator_actor(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trueup.gateway.operator", description="Manage TrueUp's tenants."
    )
    areas = parser.add_subparsers(dest="area", required=True)
    tenants = areas.add_parser("tenants", help="create, list, suspend, resume, delete, invite")
    commands = tenants.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create", help="a new tenant and its first admin's invite link")
    create.add_argument("name", help="the MSP's name, e.g. 'Acme Managed Services'")
    create.add_argument("--id", dest="tenant_id", help="the tenant id (from the name if left out)")
    commands.add_parser("list", help="every tenant, its status and number of users")
    for name, text in (
        ("suspend", "refuse the tenant's users, API keys and webhooks (403) until resumed"),
        ("resume", "let a suspended tenant in again"),
        ("invite", "another one-time admin invite link"),
    ):
        commands.add_parser(name, help=text).add_argument("tenant_id")
    delete = commands.add_parser("delete", help="delete the tenant and its data in every service")
    delete.add_argument("tenant_id")
    delete.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    for command in commands.choices.values():
        command.add_argument("--json", action="store_true", help="print JSON for scripts")
    for name in ("create", "suspend", "resume", "invite", "delete"):
        commands.choices[name].add_argument(
            "--actor",
            type=_actor,
            default=None,
            help="who acts, as the audit log names them (default: the logged-in user)",
        )
    return parser


async def _run(args: argparse.Namespace, settings: Settings) -> dict[str, Any] | list[Any]:
    database = Database(settings.resolved_database_url(), settings.resolved_schema())
    try:
        async with database.transaction() as session:
            if args.command == "create":
                tenant, invite = await service.create_tenant(
                    session,
                    args.name,
                    tenant_id=args.tenant_id,
                    invite_hours=settings.invite_hours,
                    actor=args.actor,
                )
                return {
                    "tenant_id": tenant.tenant_id,
                    "name": tenant.name,
                    "status": tenant.status,
                    "invite_url": invite.link(settings.public_url),
                    "expires_at": invite.expires_at.isoformat(),
                }
            if args.command == "list":
                return [
                    {
                        "tenant_id": t.tenant_id,
                        "name": t.name,
                        "status": t.status,
                        "created_at": t.created_at.isoformat(),
                        "users": t.users,
                    }
                    for t in await service.list_tenants(session)
                ]
            if args.command == "invite":
                invite = await service.issue_invite(
                    session, args.tenant_id, hours=settings.invite_hours, actor=args.actor
                )
                return {
                    "tenant_id": args.tenant_id,
                    "invite_url": invite.link(settings.public_url),
                    "expires_at": invite.expires_at.isoformat(),
                }
            if args.command == "delete":
                tenant = await service.request_deletion(session, args.tenant_id, actor=args.actor)
            elif args.command == "suspend":
                tenant = await service.set_status(
                    session, args.tenant_id, "suspended", actor=args.actor
                )
            else:
                tenant = await service.set_status(
                    session, args.tenant_id, "active", actor=args.actor
                )
            return {"tenant_id": tenant.tenant_id, "name": tenant.name, "status": tenant.status}
    finally:
        await database.dispose()


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _show(command: str, result: dict[str, Any] | list[Any]) -> None:
    if isinstance(result, list):
        width = max([6, *(len(row["tenant_id"]) for row in result)])
        _out(f"{'TENANT':<{width}}  {'STATUS':<10} {'USERS':>5}  NAME")
        for row in result:
            _out(
                f"{row['tenant_id']:<{width}}  {row['status']:<10} {row['users']:>5}  {row['name']}"
            )
        return
    if command in ("create", "invite"):
        if command == "create":
            _out(f"Created tenant {result['tenant_id']} ({result['name']}).")
        _out(f"Invite link for its first admin (works once, until {result['expires_at']}):")
        _out(f"  {result['invite_url']}")
        return
    if command == "delete":
        _out(
            f"Deleting tenant {result['tenant_id']}: refused from now on; every service "
            "removes its data, and the gateway its messages and uploads in NATS, when the "
            "gateway publishes the deletion."
        )
        return
    _out(f"Tenant {result['tenant_id']} is {result['status']}.")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "delete" and not args.yes:
        _err(
            f"Deleting {args.tenant_id} removes all its data in every service. "
            "Run again with --yes to confirm."
        )
        return 2
    # Every change names who made it; `list` changes nothing.
    if args.command != "list" and args.actor is None:
        try:
            args.actor = operator_actor(_os_user())
        except ValueError as exc:
            _err(f"{exc} Say who is acting with --actor NAME.")
            return 2
    settings = Settings()
    configure_logging("gateway-operator", "WARNING", settings.log_format)
    if settings.migrate_on_start:
        upgrade(MIGRATIONS, settings.resolved_database_url(), settings.resolved_schema())
    try:
        result = asyncio.run(_run(args, settings))
    except (TenantNotFoundError, TenantConflictError) as exc:
        _err(str(exc))
        return 1
    if args.json:
        _out(json.dumps(result, indent=2))
    else:
        _show(args.command, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
