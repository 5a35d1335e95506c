"""Run all three PSA simulators in one process: ConnectWise on 8101, Autotask on 8102,
Halo on 8103 (`python -m trueup.devstack.psa_simulators [--host H] [--seed N]`)."""

from __future__ import annotations

import argparse
import asyncio

import uvicorn

from trueup.devstack.psa_simulators.autotask import AutotaskSimulatorConfig
from trueup.devstack.psa_simulators.autotask import create_app as autotask_app
from trueup.devstack.psa_simulators.connectwise import ConnectWiseSimulatorConfig
from trueup.devstack.psa_simulators.connectwise import create_app as connectwise_app
from trueup.devstack.psa_simulators.halo import HaloSimulatorConfig
from trueup.devstack.psa_simulators.halo import create_app as halo_app


async def serve_all(host: str, seed: int, accounts: int, line_items: int, base_port: int) -> None:
    """Serve the three simulators until interrupted."""
    demo = {"seed": seed, "accounts": accounts, "line_items": line_items}
    apps = [
        connectwise_app(ConnectWiseSimulatorConfig(**demo)),
        autotask_app(AutotaskSimulatorConfig(**demo)),
        halo_app(HaloSimulatorConfig(**demo)),
    ]
    servers = [
        uvicorn.Server(uvicorn.Config(app, host=host, port=base_port + i, log_level="warning"))
        for i, app in enumerate(apps)
    ]
    await asyncio.gather(*(server.serve() for server in servers))


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m trueup.devstack.psa_simulators")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--base-port", type=int, default=8101)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--accounts", type=int, default=48)
    parser.add_argument("--line-items", type=int, default=600)
    args = parser.parse_args()
    asyncio.run(serve_all(args.host, args.seed, args.accounts, args.line_items, args.base_port))


if __name__ == "__main__":
    main()
