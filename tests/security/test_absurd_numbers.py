"""No absurd number, date or unknown field reaches a 500 or changes anything (#16 item 8,
and the card bodies of item 10): each card endpoint answers 422 naming the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.conftest import Databases
from tests.integration.test_money_trust import _named, _reconcile_card, _report
from tests.integration.test_reconciliation_flow import _billed_lines, _cards_for, stack
from tests.support import eventually
from trueup.devstack.psa_simulators import connectwise as cw_sim
from trueup.devstack.psa_simulators.server import SimulatorServer

D = Decimal

ABSURD_QUANTITIES = ["1e400", "1e20", "-0", "1_000", "١٢", "12.0000001", 10**30, 12.5]


class TestAbsurdInputChangesNothing:
    async def test_every_card_endpoint_answers_422_naming_the_field(
        self, clean_nats: str, databases: Databases, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, other = tenant_ids
        with SimulatorServer(cw_sim.create_app(cw_sim.ConnectWiseSimulatorConfig())) as sim:
            _agreement, addition, company = _billed_lines(sim.app.state.store)[0]
            before = D(str(addition["quantity"]))
            async with stack(clean_nats, databases, tenant, other, sim) as s:
                await eventually(lambda: _cards_for(s, str(addition["id"])), timeout=60)
                await _report(s, [(_named(addition, company), before + 1)], "absurd")
                card = await _reconcile_card(s, addition["id"])
                url = f"/api/v1/cards/{card['card_id']}"
                far = "9999-12-31"
                attempts: list[tuple[str, dict[str, Any], tuple[Any, ...]]] = []
                for quantity in ABSURD_QUANTITIES:
                    attempts += [
                        (f"{url}/preview", {"quantity": quantity}, ("quantity",)),
                        (f"{url}/approve", {"quantity": quantity}, ("quantity",)),
                        (
                            f"{url}/approve",
                            {
                                "prorated_changes": [
                                    {"effective_date": "2026-12-20", "quantity": quantity}
                                ]
                            },
                            ("prorated_changes", 0, "quantity"),
                        ),
                        (f"{url}/add", {"quantity": "3", "unit_price": quantity}, ("unit_price",)),
                    ]
                attempts += [
                    (
                        f"{url}/preview",
                        {"quantity": "3", "effective_date": far},
                        ("effective_date",),
                    ),
                    (
                        "/api/v1/cards/bulk",
                        {
                            "action": "set_effective_date",
                            "card_ids": [card["card_id"]],
                            "effective_date": far,
                        },
                        ("effective_date",),
                    ),
                    (
                        f"{url}/approve",
                        {"prorated_changes": [{"effective_date": far, "quantity": "3"}]},
                        ("prorated_changes", 0, "effective_date"),
                    ),
                    (f"{url}/approve", {"quantiy": "3"}, ("quantiy",)),  # a typo is not ignored
                    (f"{url}/dismiss", {"reason": "x", "sure": True}, ("sure",)),
                ]
                for path, body, field in attempts:
                    response = await s.client.post(path, json=body, headers=s.headers())
                    assert response.status_code == 422, (path, body, response.text)
                    problem = response.json()
                    assert problem["status"] == 422
                    named = ".".join(str(part) for part in field)
                    assert named in [e["field"] for e in problem["errors"]], (body, problem)
                    assert named in problem["detail"]

                settings = await s.client.get("/api/v1/settings/billing", headers=s.headers())
                assert settings.status_code == 200, settings.text
                rules = {**settings.json(), "rules": [{"name": "r", "max_units": "1e400"}]}
                saved = await s.client.put(
                    "/api/v1/settings/billing", json=rules, headers=s.headers()
                )
                assert saved.status_code == 422, saved.text

                # Nothing changed: the card is still pending and nothing was logged.
                again = await _reconcile_card(s, addition["id"])
                assert again["state"] == "pending"
                assert again["updated_at"] == card["updated_at"]
                response = await s.client.get(
                    "/api/v1/activity", params={"card_id": card["card_id"]}, headers=s.headers()
                )
                assert response.status_code == 200
                assert response.json()["items"] == []
