"""Issue #16 item 10: the activity export neutralises every lead a spreadsheet evaluates."""

from __future__ import annotations

import pytest

from trueup.gateway.endpoints.activity import neutralise


class TestFormulaLeadsBeyondAscii:
    @pytest.mark.parametrize(
        "cell",
        [
            "\n=1+1",
            "\r=1+1",
            "\n",
            "\uff1d1+1",  # full-width equals
            "\uff0bcmd",  # full-width plus
            "\uff0d1+1",  # full-width hyphen-minus
            "\uff20SUM(A1)",  # full-width commercial at
            "\ufe66HYPERLINK(x)",  # small equals sign
            "\uff0d3",  # full-width minus before digits: not a plain ASCII number
        ],
    )
    def test_line_breaks_and_full_width_leads_get_an_apostrophe(self, cell: str) -> None:
        assert neutralise(cell) == "'" + cell

    @pytest.mark.parametrize("cell", ["-3", "27.5", "\uff21cme", "a\n=b", "Ｓeats"])
    def test_plain_numbers_and_text_stay_as_they_are(self, cell: str) -> None:
        assert neutralise(cell) == cell
