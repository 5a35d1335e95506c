"""The export's cell rule on its own (OWASP CSV injection)."""

from __future__ import annotations

import pytest

from trueup.gateway.endpoints.activity import neutralise


class TestNeutralise:
    @pytest.mark.parametrize(
        "cell",
        ["=1+1", "+1", "-1+1", "-", "@SUM(A1)", "\tx", "\r=1", "=", "-A1", "-1e3", "- 3"],
    )
    def test_a_cell_a_spreadsheet_could_evaluate_gets_an_apostrophe(self, cell: str) -> None:
        assert neutralise(cell) == "'" + cell

    @pytest.mark.parametrize("cell", ["", "Acme, Inc.", "30", "27.5", "-3", "-0.25", "a=b", " =1"])
    def test_text_and_plain_numbers_are_left_alone(self, cell: str) -> None:
        assert neutralise(cell) == cell
