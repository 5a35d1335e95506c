"""The billing settings through the gateway and reconciliation: the two mapping thresholds,
and the one they replaced still read and served under its old name in /api/v1."""

from __future__ import annotations

from tests.conftest import Databases
from tests.integration.test_reconciliation_flow import connectwise, stack
from trueup.devstack.psa_simulators.server import SimulatorServer

__all__ = ["connectwise"]  # the fixture, imported to be found


class TestMappingThresholds:
    async def test_the_old_name_sets_pre_selection_only_and_an_answer_goes_back_as_it_came(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        connectwise: SimulatorServer,
    ) -> None:
        tenant, other = tenant_ids
        async with stack(clean_nats, databases, tenant, other, connectwise) as s:
            # A client written before the split sends the one threshold it knows.
            saved = await s.client.put(
                "/api/v1/settings/billing", json={"auto_map_threshold": "80"}, headers=s.headers()
            )
            assert saved.status_code == 200, saved.text
            answer = saved.json()
            assert (
                answer["suggestion_threshold"],
                answer["auto_map_threshold"],
                answer["auto_apply_threshold"],
            ) == ("80", "80", None)

            # Read, change, write back: the answer carries both names, and is accepted.
            read = (await s.client.get("/api/v1/settings/billing", headers=s.headers())).json()
            assert read == answer
            changed = {**read, "auto_apply_threshold": "97"}
            again = await s.client.put(
                "/api/v1/settings/billing", json=changed, headers=s.headers()
            )
            assert again.status_code == 200, again.text
            assert (again.json()["suggestion_threshold"], again.json()["auto_apply_threshold"]) == (
                "80",
                "97",
            )
