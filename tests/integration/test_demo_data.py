"""The demo MSP is one story across simulators: vendors know the PSA's clients."""

from __future__ import annotations

from trueup.devstack.psa_simulators.demo import NAMED_ACCOUNTS, build_demo_msp
from trueup.devstack.vendor_simulators.demo import PSA_ACCOUNTS


class TestDemoMsp:
    def test_the_vendor_simulators_name_the_psa_simulators_clients(self) -> None:
        assert PSA_ACCOUNTS == NAMED_ACCOUNTS
        names = {account.name for account in build_demo_msp().accounts}
        assert set(PSA_ACCOUNTS) <= names

    def test_generated_names_never_repeat_their_last_word(self) -> None:
        for account in build_demo_msp().accounts:
            words = account.name.replace(",", "").split()
            assert words[-1] != words[-2], account.name
