"""Account-mapping suggestions: normalisation, exact matches, scores, and their quality."""

import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.domain import name_pairs
from trueup.domain import (
    DEFAULT_SUGGESTION_THRESHOLD,
    MIN_AUTO_APPLY_THRESHOLD,
    Account,
    AccountMapping,
    MappingSuggestion,
    MatchBasis,
    ServiceLine,
    ServiceMapping,
    ServiceSuggestion,
    VendorAccountRef,
    VendorSkuRef,
    mappings_to_apply,
    name_aliases,
    normalise_name,
    normalise_product,
    preselected,
    service_mappings_to_apply,
    suggest_account_mappings,
    suggest_for_account,
    suggest_service_mappings,
    suggestion_threshold,
)
from trueup.domain.matching import AMBIGUITY_MARGIN

DATA = Path(__file__).parent / "data"


class TestNormalisation:
    @pytest.mark.parametrize(
        ("left", "right"),
        [
            ("Acme, Inc.", "ACME Incorporated"),
            ("Smith & Jones", "Smith and Jones"),
            ("Café Olé", "Cafe Ole"),
            ("Müller GmbH", "MULLER"),
            ("St. Mary's Clinic", "Saint Marys Clinic"),
            ("Elm St Dental", "Elm Street Dental"),
            ("A.B.C. Roofing LLC", "ABC Roofing"),
            ("A B C Roofing", "abc roofing"),
            ("The Harbor Group", "Harbor Group, The"),
            ("Johnson Bros. Mfg. Co.", "Johnson Brothers Manufacturing"),
            ("Contoso Law (Pax8)", "Contoso Law"),
            ("contosolaw.onmicrosoft.com", "contosolaw"),
            ("Greenleaf Acctg & Tax", "Greenleaf Accounting and Tax"),
            ("Cedar Park Ins. Agency", "Cedar Park Insurance Agency"),
            ("Meridian Constr.", "Meridian Construction Corp."),
            ("Falcon Eng.", "Falcon Engineering"),
            ("Lakeside PT", "Lakeside Physical Therapy Inc."),
            ("Westfield Title Comapny", "Westfield Title Company"),
            ("Łódź Imports Sp", "Lodz Imports"),
            ("Mtn View Pediatrics", "Mountain View Pediatrics"),
            ("Grand Ave Dental Lab", "Grand Avenue Dental Lab"),
            ("1st Baptist Church", "First Baptist Church"),
            ("Evergreen Community CU", "Evergreen Community Credit Union"),
            ("Blue Heron B&B", "Blue Heron Bed & Breakfast"),
            ("Blue Heron B and B", "Blue Heron Bed and Breakfast"),
            ("O Brien Plumbing", "O'Brien Plumbing"),
            ("A & O Plumbing", "A and O Plumbing LLC"),
            ("Sunrise Sr Living Center", "Sunrise Senior Living Center"),
        ],
    )
    def test_variants_normalise_alike(self, left: str, right: str) -> None:
        assert normalise_name(left) == normalise_name(right)

    @pytest.mark.parametrize(
        ("left", "right"),
        [
            ("Northside Dental", "Southside Dental"),
            ("Acme Dental", "Acme"),
            ("District 8 Schools", "District 9 Schools"),
        ],
    )
    def test_different_companies_stay_different(self, left: str, right: str) -> None:
        assert normalise_name(left) != normalise_name(right)

    def test_a_lone_legal_form_is_kept(self) -> None:
        assert normalise_name("Inc") == "inc"

    def test_only_an_irish_o_joins_the_next_word(self) -> None:
        assert normalise_name("O Brien Sons Plumbing") == "obrien sons plumbing"
        assert normalise_name("A & O Plumbing") == "a and o plumbing"


class TestAbbreviationsOfSeveralReadings:
    """ "Co." is a county in one name and a company in another: read as the name compared
    with has it, and strong only where one account fits."""

    @pytest.mark.parametrize(
        ("vendor", "psa"),
        [
            ("Jefferson Co Library Foundation", "Jefferson County Library Foundation"),
            ("Evergreen Comm. Credit Union", "Evergreen Community Credit Union"),
            ("St Mary's Family Med.", "St. Mary's Family Medicine, P.A."),
            ("PINECREST ORTHO", "Pinecrest Orthodontics PLLC"),
            ("Kowalski Precision Mach Inc", "Kowalski Precision Machining, Inc."),
        ],
    )
    def test_the_reading_the_account_has_is_strong(self, vendor: str, psa: str) -> None:
        accounts = [Account("1", psa), Account("2", "Zhang & Patel Architects")]
        (best, *_) = suggest_for_account(VendorAccountRef("pax8", "x", vendor), accounts)
        assert best.account_id == "1"
        assert best.score >= DEFAULT_SUGGESTION_THRESHOLD, best.reason

    def test_an_abbreviation_two_accounts_fit_is_never_strong(self) -> None:
        accounts = [
            Account("1", "Evergreen Community Bank"),
            Account("2", "Evergreen Commercial Bank"),
        ]
        found = suggest_for_account(VendorAccountRef("pax8", "x", "Evergreen Comm Bank"), accounts)
        assert {s.account_id for s in found} == {"1", "2"}
        assert all(s.score < DEFAULT_SUGGESTION_THRESHOLD for s in found), found

    def test_a_reading_neither_name_has_is_a_missing_word(self) -> None:
        accounts = [Account("1", "Evergreen Federal Credit Union")]
        found = suggest_for_account(
            VendorAccountRef("pax8", "x", "Evergreen Comm Credit Union"), accounts
        )
        assert all(s.score < DEFAULT_SUGGESTION_THRESHOLD for s in found), found


class TestWordsWrittenWithAFullStop:
    def test_a_word_with_a_stop_reads_as_the_word_it_begins(self) -> None:
        accounts = [Account("1", "Carver County Historical Society"), Account("2", "Zhang Ltd")]
        (best, *_) = suggest_for_account(
            VendorAccountRef("pax8", "x", "Carver County Hist. Soc. Inc"), accounts
        )
        assert best.account_id == "1"
        assert best.score >= DEFAULT_SUGGESTION_THRESHOLD, best.reason

    def test_without_the_stop_a_shorter_word_is_another_business(self) -> None:
        # "Bay Dental" and "Bayside Dental" are two practices.
        accounts = [Account("1", "Bayside Dental")]
        found = suggest_for_account(VendorAccountRef("pax8", "x", "Bay Dental"), accounts)
        assert all(s.score < DEFAULT_SUGGESTION_THRESHOLD for s in found), found

    def test_a_stop_that_begins_two_words_reads_as_neither(self) -> None:
        accounts = [Account("1", "Carver Historical History Society")]
        found = suggest_for_account(VendorAccountRef("pax8", "x", "Carver Hist. Society"), accounts)
        assert all(s.score < DEFAULT_SUGGESTION_THRESHOLD for s in found), found


class TestNamesALetterApart:
    """A changed letter is as often another family's name as a typo: never strong. A
    dropped, doubled or swapped letter is a typo."""

    @pytest.mark.parametrize(
        ("vendor", "psa"),
        [
            ("O'Donnell Physical Therapy, LLC", "O'Connell Physical Therapy, LLC"),
            ("Larson Family Dentistry", "Carson Family Dentistry"),
            ("Hansen Precision Machining", "Jansen Precision Machining"),
        ],
    )
    def test_a_changed_letter_is_not_strong(self, vendor: str, psa: str) -> None:
        found = suggest_for_account(VendorAccountRef("pax8", "x", vendor), [Account("1", psa)])
        assert [s.account_id for s in found] == ["1"]
        assert found[0].score < DEFAULT_SUGGESTION_THRESHOLD
        assert "a letter changed" in found[0].reason

    @pytest.mark.parametrize(
        "vendor",
        [
            "Hartwel Veterinary Hospital",
            "Hartwelll Veterinary Hospital",
            "Hartwell Veterinary Hopsital",
        ],
    )
    def test_a_dropped_doubled_or_swapped_letter_is_a_typo(self, vendor: str) -> None:
        accounts = [Account("1", "Hartwell Veterinary Hospital"), Account("2", "Zhang Ltd")]
        (best, *_) = suggest_for_account(VendorAccountRef("pax8", "x", vendor), accounts)
        assert best.account_id == "1"
        assert best.score >= DEFAULT_SUGGESTION_THRESHOLD, best.reason


class TestDoingBusinessAs:
    @pytest.mark.parametrize(
        "name",
        [
            "Smith Holdings LLC dba Smith Dental",
            "Smith Holdings LLC DBA Smith Dental",
            "Smith Holdings, LLC d/b/a Smith Dental",
            "Smith Dental (d/b/a of Smith Holdings LLC)",
            "Smith Holdings LLC doing business as Smith Dental",
        ],
    )
    def test_both_names_are_aliases(self, name: str) -> None:
        assert set(name_aliases(name)) == {"smith holdings", "smith dental"}

    def test_a_name_without_dba_is_its_own_alias(self) -> None:
        assert name_aliases("Acme, Inc.") == ("acme",)

    def test_the_trading_name_matches_the_psa_account(self) -> None:
        accounts = [Account("1", "Smith Dental"), Account("2", "Smith Orthodontics")]
        (best, *_) = suggest_for_account(
            VendorAccountRef("pax8", "x", "Smith Holdings LLC dba Smith Dental"), accounts
        )
        assert (best.account_id, best.basis) == ("1", MatchBasis.NORMALISED_NAME)
        assert best.score >= DEFAULT_SUGGESTION_THRESHOLD

    def test_the_psa_side_may_carry_the_dba(self) -> None:
        accounts = [Account("1", "Smith Holdings LLC dba Smith Dental"), Account("2", "Smithson")]
        (best, *_) = suggest_for_account(VendorAccountRef("pax8", "x", "Smith Dental"), accounts)
        assert best.account_id == "1"
        assert best.score >= DEFAULT_SUGGESTION_THRESHOLD


ACCOUNTS = [
    Account("1", "ACME Incorporated"),
    Account("2", "Acme Dental Supply"),
    Account("3", "Bayside Dental Group"),
    Account("4", "Southside Dental Group"),
    Account("5", "Coastal Insurance Agency"),
    Account("6", "Coastal Insurance Brokers"),
]


class TestSuggestions:
    def test_psa_id_in_vendor_data_is_exact(self) -> None:
        ref = VendorAccountRef(
            "datto-rmm", "site-9", "Totally Different Name", psa_account_hint="3"
        )
        (best,) = suggest_for_account(ref, ACCOUNTS)
        assert (best.account_id, best.basis, best.score, best.is_exact) == (
            "3",
            MatchBasis.PSA_ID,
            Decimal(100),
            True,
        )
        assert "PSA account id 3" in best.reason

    def test_identical_name_is_exact(self) -> None:
        (best,) = suggest_for_account(
            VendorAccountRef("pax8", "x", "bayside  dental GROUP"), ACCOUNTS
        )
        assert (best.account_id, best.basis) == ("3", MatchBasis.EXACT_NAME)

    def test_normalised_match_is_strong_but_not_exact(self) -> None:
        (best,) = suggest_for_account(VendorAccountRef("pax8", "x", "Acme, Inc."), ACCOUNTS)
        assert best.account_id == "1"
        assert best.basis is MatchBasis.NORMALISED_NAME
        assert best.score >= DEFAULT_SUGGESTION_THRESHOLD
        assert not best.is_exact
        assert "normalising" in best.reason

    def test_fuzzy_suggestion_has_score_and_reason(self) -> None:
        suggestions = suggest_for_account(
            VendorAccountRef("pax8", "x", "Bayside Dentl Grp"), ACCOUNTS
        )
        best = suggestions[0]
        assert best.account_id == "3"
        assert best.basis is MatchBasis.FUZZY_NAME
        assert Decimal(60) <= best.score <= Decimal(100)
        assert "similar" in best.reason

    def test_a_different_distinctive_word_keeps_the_score_below_the_threshold(self) -> None:
        (best, *_) = suggest_for_account(
            VendorAccountRef("pax8", "x", "Northside Dental Group"), ACCOUNTS
        )
        assert best.account_id == "4"
        assert best.score < DEFAULT_SUGGESTION_THRESHOLD
        assert "northside" in best.reason

    def test_two_close_candidates_are_ambiguous(self) -> None:
        (best, *_) = suggest_for_account(
            VendorAccountRef("pax8", "x", "Coastal Insurance"),
            [
                *ACCOUNTS[:4],
                Account("7", "Coastal Insurance Group"),
                Account("8", "Coastal Insurance Partners"),
            ],
        )
        assert best.score < DEFAULT_SUGGESTION_THRESHOLD
        assert "ambiguous" in best.reason

    def test_every_candidate_nearly_as_close_as_the_best_is_ambiguous(self) -> None:
        # The runner-up kept 98 and came after the capped best: offered as a strong match,
        # out of the best-first order.
        suggestions = suggest_for_account(
            VendorAccountRef("pax8", "x", "ACME"),
            [Account("1", "Acme Holdings"), Account("2", "Acme Services")],
        )
        assert [s.account_name for s in suggestions] == ["Acme Holdings", "Acme Services"]
        assert all(s.score < Decimal(80) for s in suggestions)
        assert all("ambiguous" in s.reason for s in suggestions)
        assert "'Acme Services' is nearly as close" in suggestions[0].reason
        assert "'Acme Holdings' is nearly as close" in suggestions[1].reason

    def test_a_worse_candidate_never_outranks_ambiguous_better_ones(self) -> None:
        suggestions = suggest_for_account(
            VendorAccountRef("pax8", "x", "ACME"),
            [
                Account("1", "Acme Holdings"),
                Account("2", "Acme Services"),
                Account("3", "Acne Clinic"),
            ],
        )
        assert [s.account_id for s in suggestions][:2] == ["1", "2"]
        assert all(s.score < Decimal(80) for s in suggestions)
        assert_best_first(suggestions)

    def test_accounts_named_alike_come_first_and_nothing_is_strong(self) -> None:
        suggestions = suggest_for_account(
            VendorAccountRef("pax8", "x", "Acme"),
            [Account("1", "Acme Inc"), Account("2", "ACME LLC"), Account("3", "Acme Holdings")],
        )
        assert {s.account_id for s in suggestions[:2]} == {"1", "2"}
        assert all("several accounts" in s.reason for s in suggestions[:2])
        assert all(s.score < Decimal(80) for s in suggestions)
        assert_best_first(suggestions)

    def test_same_first_word_other_business_is_never_strong(self) -> None:
        # Select-all and accept must not map a law firm to a dental practice.
        (best, *_) = suggest_for_account(
            VendorAccountRef("pax8", "x", "Ironwood Legal"),
            [Account("1", "Ironwood Dental Co."), Account("2", "Westwood Legal LLP")],
        )
        assert best.account_id == "1"
        assert best.score < Decimal(80)
        assert "legal" in best.reason

    def test_a_typo_in_a_long_name_is_still_strong(self) -> None:
        (best, *_) = suggest_for_account(
            VendorAccountRef("pax8", "x", "Ironwod Dental"),
            [Account("1", "Ironwood Dental Co."), Account("2", "Ironwood Legal LLP")],
        )
        assert best.account_id == "1"
        assert best.score >= DEFAULT_SUGGESTION_THRESHOLD

    def test_nothing_similar_gives_no_suggestion(self) -> None:
        assert (
            suggest_for_account(VendorAccountRef("pax8", "x", "Zebra Quantum Widgets"), ACCOUNTS)
            == ()
        )


class TestWhatAppliesItself:
    SUGGESTIONS = suggest_account_mappings(
        [
            VendorAccountRef("pax8", "exact", "Bayside Dental Group"),
            VendorAccountRef("pax8", "normalised", "Acme, Inc."),
            VendorAccountRef("pax8", "fuzzy", "Bayside Dentl Grp"),
        ],
        ACCOUNTS,
    )

    def test_only_exact_matches_apply_themselves_by_default(self) -> None:
        assert mappings_to_apply(self.SUGGESTIONS) == (AccountMapping("pax8", "exact", "3"),)

    def test_tenant_threshold_allows_very_high_scores(self) -> None:
        applied = mappings_to_apply(self.SUGGESTIONS, auto_apply_threshold=Decimal(99))
        assert [m.vendor_account_id for m in applied] == ["exact", "normalised"]

    def test_only_the_best_suggestion_of_an_account_can_apply(self) -> None:
        best = next(s for s in self.SUGGESTIONS if s.vendor_account_id == "fuzzy")
        runner_up = replace(best, account_id="4", score=MIN_AUTO_APPLY_THRESHOLD)
        applied = mappings_to_apply([best, runner_up], auto_apply_threshold=Decimal(90))
        assert applied == (AccountMapping("pax8", "fuzzy", "3"),)

    @pytest.mark.parametrize("threshold", [Decimal(0), Decimal(79), Decimal("89.9")])
    def test_a_threshold_where_look_alikes_score_is_refused(self, threshold: Decimal) -> None:
        # "Ironwood Legal" / "Ironwood Dental Co." scores 79: nothing near it maps itself.
        with pytest.raises(ValueError, match="at least 90"):
            mappings_to_apply(self.SUGGESTIONS, auto_apply_threshold=threshold)


class TestPreselection:
    def test_the_default_threshold_is_95_until_the_tenant_sets_one(self) -> None:
        assert suggestion_threshold(None) == DEFAULT_SUGGESTION_THRESHOLD == Decimal(95)
        assert suggestion_threshold(Decimal(99)) == Decimal(99)

    @pytest.mark.parametrize(
        ("rank", "score", "expected"),
        [
            (0, Decimal(95), True),
            (0, Decimal("94.9"), False),
            (0, Decimal(82), False),  # the top of the 67-82 % band the page used to pre-fill
            (1, Decimal(99), False),  # only the best suggestion may fill the choice in
        ],
    )
    def test_only_the_best_suggestion_at_or_above_the_threshold(
        self, rank: int, score: Decimal, expected: bool
    ) -> None:
        assert preselected(rank, score, Decimal(95)) is expected


SERVICE_LINES = [
    ServiceLine("3300", "Microsoft 365 Business Premium", "3300"),
    ServiceLine("3301", "Microsoft 365 Business Standard", "3301"),
    ServiceLine("3302", "Microsoft 365 Business Basic", "3302"),
    ServiceLine("3303", "Microsoft 365 E3", "3303"),
    ServiceLine("3304", "Exchange Online (Plan 1)", "3304"),
    ServiceLine("3305", "Microsoft Defender for Business", "3305"),
    ServiceLine("3308", "Managed Workstation", "3308"),
    ServiceLine("3311", "Huntress Managed EDR Agent", "3311"),
    ServiceLine("3315", "Acronis Cyber Protect Cloud - Workstation", "ACR-CPC-WS"),
]


def best_line(ref: VendorSkuRef) -> tuple[str, Decimal, MatchBasis, str]:
    (best, *_) = suggest_service_mappings([ref], SERVICE_LINES)
    return best.service_line_id, best.score, best.basis, best.reason


class TestSkuSuggestions:
    @pytest.mark.parametrize(
        ("code", "read_as"),
        [
            ("MST-365-BP", "microsoft 365 business premium"),
            ("MST-365-BP-M", "microsoft 365 business premium"),
            ("M365-BB", "microsoft 365 business basic"),
            ("MS365 STD", "microsoft 365 standard"),
            ("O365-E3", "office 365 e3"),
            ("MST-EXO-P1-M", "microsoft exchange online plan 1"),
            ("WINDOWS_WORKSTATION", "windows workstation"),
        ],
    )
    def test_codes_are_read_by_expanding_abbreviations(self, code: str, read_as: str) -> None:
        assert normalise_product(code) == read_as

    def test_a_code_without_a_name_gets_a_strong_suggestion(self) -> None:
        line, score, basis, reason = best_line(VendorSkuRef("pax8", "MST-365-BP"))
        assert (line, basis) == ("3300", MatchBasis.SKU_CODE)
        assert score >= DEFAULT_SUGGESTION_THRESHOLD
        assert "MST-365-BP" in reason

    def test_an_abbreviated_name_gets_a_strong_suggestion(self) -> None:
        line, score, _, _ = best_line(VendorSkuRef("csv", "X-1", "M365 Bus Prem (NCE, monthly)"))
        assert line == "3300"
        assert score >= DEFAULT_SUGGESTION_THRESHOLD

    def test_a_sibling_product_is_never_strong(self) -> None:
        # E5 is not E3, Business Standard is not Business Premium: one word apart.
        e5 = suggest_service_mappings([VendorSkuRef("csv", "M365-E5")], SERVICE_LINES)
        assert e5
        assert all(s.score < Decimal(80) for s in e5)
        standard = suggest_service_mappings(
            [VendorSkuRef("csv", "MS365 BS", "Microsoft 365 Business Standard (trial)")],
            SERVICE_LINES,
        )
        assert standard[0].service_line_id == "3301"
        assert standard[0].score >= DEFAULT_SUGGESTION_THRESHOLD
        assert all(s.score < Decimal(80) for s in standard[1:])

    def test_every_line_nearly_as_close_as_the_best_is_ambiguous(self) -> None:
        # Two lines sell one product: the second kept 99 after the first was capped.
        lines = [*SERVICE_LINES, ServiceLine("3399", "M365 Business Premium (annual)", "3399")]
        suggestions = suggest_service_mappings([VendorSkuRef("pax8", "MST-365-BP")], lines)
        assert {s.service_line_id for s in suggestions[:2]} == {"3300", "3399"}
        assert all(s.score < Decimal(80) for s in suggestions)
        assert all("ambiguous" in s.reason for s in suggestions[:2])
        assert_best_first(suggestions)

    def test_another_vendor_s_device_class_is_a_weak_suggestion(self) -> None:
        line, score, _, reason = best_line(
            VendorSkuRef("ninjaone", "WINDOWS_WORKSTATION", "Windows workstation")
        )
        assert line == "3308"
        assert score < Decimal(80)
        assert "windows" in reason

    def test_the_psa_product_code_counts(self) -> None:
        line, score, basis, _ = best_line(VendorSkuRef("pax8", "ACR-CPC-WS"))
        assert line == "3315"
        assert score >= DEFAULT_SUGGESTION_THRESHOLD
        assert basis is MatchBasis.SKU_CODE

    def test_a_name_equal_to_the_service_line_is_exact_and_alone(self) -> None:
        (only,) = suggest_service_mappings(
            [VendorSkuRef("huntress", "huntress-edr-agent", "Huntress Managed EDR agent")],
            SERVICE_LINES,
        )
        assert (only.service_line_id, only.score, only.is_exact) == ("3311", Decimal(100), True)
        assert only.to_mapping() == ServiceMapping("huntress", "huntress-edr-agent", "3311")

    def test_nothing_similar_gives_no_suggestion(self) -> None:
        assert suggest_service_mappings([VendorSkuRef("v", "ZZ-9", "Widget")], SERVICE_LINES) == ()


class TestSkusThatMapThemselves:
    def test_only_names_equal_to_a_service_line_apply(self) -> None:
        applied = service_mappings_to_apply(
            [
                VendorSkuRef("pax8", "MST-365-BS-M", "Microsoft 365 Business Standard"),
                VendorSkuRef("pax8", "MST-365-BP"),  # a strong suggestion, not exact
                VendorSkuRef("csv", "Managed Workstation"),  # the code is the name
            ],
            SERVICE_LINES,
        )
        assert applied == (
            ServiceMapping("pax8", "MST-365-BS-M", "3301"),
            ServiceMapping("csv", "Managed Workstation", "3308"),
        )

    def test_the_first_of_two_lines_with_one_name_wins(self) -> None:
        lines = [ServiceLine("b", "Backup", "b"), ServiceLine("a", "BACKUP", "a")]
        assert service_mappings_to_apply([VendorSkuRef("v", "s", "backup")], lines) == (
            ServiceMapping("v", "s", "b"),
        )


@dataclass(frozen=True)
class Quality:
    strong_right: int
    strong_wrong: int
    positives: int
    negatives: int
    top_right: int

    @property
    def precision(self) -> float:
        strong = self.strong_right + self.strong_wrong
        return 1.0 if strong == 0 else self.strong_right / strong

    @property
    def recall(self) -> float:
        return self.strong_right / self.positives


def load_fixture() -> tuple[list[tuple[str, str]], list[Account]]:
    lines = [
        line.split("\t")
        for line in (DATA / "company_names.tsv").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ][1:]
    pairs = [(vendor, psa) for vendor, psa in lines]
    distractors = [
        line
        for line in (DATA / "psa_distractors.txt").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    names = sorted({psa for _, psa in pairs if psa} | set(distractors))
    return pairs, [Account(f"PSA-{i}", name) for i, name in enumerate(names)]


def measure(pairs: list[tuple[str, str]], accounts: list[Account]) -> Quality:
    by_name = {a.name: a.id for a in accounts}
    refs = [VendorAccountRef("vendor", f"V{i:04d}", vendor) for i, (vendor, _) in enumerate(pairs)]
    best: dict[str, tuple[str, Decimal]] = {}
    for suggestion in suggest_account_mappings(refs, accounts):
        best.setdefault(suggestion.vendor_account_id, (suggestion.account_id, suggestion.score))
    right = wrong = top_right = 0
    for ref, (_, psa) in zip(refs, pairs, strict=True):
        truth = by_name.get(psa)
        account_id, score = best.get(ref.vendor_account_id, (None, Decimal(0)))
        if truth is not None and account_id == truth:
            top_right += 1
        if score >= DEFAULT_SUGGESTION_THRESHOLD:
            if account_id == truth:
                right += 1
            else:
                wrong += 1
    positives = sum(1 for _, psa in pairs if psa)
    return Quality(right, wrong, positives, len(pairs) - positives, top_right)


class TestSuggestionQualityOnRealisticNames:
    """200+ realistic vendor/PSA name pairs, including look-alikes that are other companies."""

    def test_fixture_is_large_enough(self) -> None:
        pairs, _ = load_fixture()
        assert len(pairs) >= 200
        assert sum(1 for _, psa in pairs if not psa) >= 40  # names the MSP does not serve

    def test_no_wrong_suggestion_above_the_default_threshold(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        pairs, accounts = load_fixture()
        quality = measure(pairs, accounts)
        with capsys.disabled():
            sys.stdout.write(
                f"\naccount suggestions on {len(pairs)} name pairs "
                f"({quality.positives} with a true match, {quality.negatives} without), "
                f"threshold {DEFAULT_SUGGESTION_THRESHOLD}: precision {quality.precision:.1%}, "
                f"recall {quality.recall:.1%}; best suggestion right for "
                f"{quality.top_right}/{quality.positives}\n"
            )
        assert quality.strong_wrong == 0
        assert quality.precision == 1.0
        # Recall is what saves the MSP work; it must stay high, not just be safe.
        assert quality.recall >= 0.85
        assert quality.top_right / quality.positives >= 0.95


class TestLabelledPairs:
    """500+ generated vendor/PSA name pairs (data/name_pairs.tsv), hard negatives included:
    the goal of issue #19 is precision >= 99 % and recall >= 90 % at the default threshold."""

    def test_the_committed_fixture_is_what_the_generator_writes(self) -> None:
        assert name_pairs.load() == name_pairs.generate()

    def test_the_fixture_is_large_and_has_hard_negatives(self) -> None:
        pairs = name_pairs.load()
        assert len(pairs) >= 500
        negatives = [p for p in pairs if not p.is_match]
        assert len(negatives) >= 150
        assert (
            name_pairs.NamePair("Ironwood Legal", "Ironwood Dental Co.", False, "written by hand")
            in negatives
        )

    def test_precision_and_recall_at_the_default_threshold(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        pairs = name_pairs.load()
        (quality,) = name_pairs.measure(pairs, [DEFAULT_SUGGESTION_THRESHOLD])
        with capsys.disabled():
            sys.stdout.write(
                f"\n{len(pairs)} labelled pairs, threshold {DEFAULT_SUGGESTION_THRESHOLD}: "
                f"precision {quality.precision:.2%}, recall {quality.recall:.2%}\n"
            )
        assert quality.precision >= 0.99, name_pairs.mistakes(pairs, quality.threshold)
        assert quality.recall >= 0.90, name_pairs.mistakes(pairs, quality.threshold)

    @pytest.mark.parametrize("path", name_pairs.HAND_WRITTEN, ids=lambda p: p.stem)
    def test_no_wrong_strong_suggestion_on_hand_written_names(self, path: Path) -> None:
        # Names and spellings the generator never made: the matcher may miss more of them
        # (they go to the queue), but a strong suggestion must still be right.
        pairs = name_pairs.load(path)
        assert len(pairs) >= 140
        (quality,) = name_pairs.measure(pairs, [DEFAULT_SUGGESTION_THRESHOLD])
        assert quality.wrong == 0, name_pairs.mistakes(pairs, quality.threshold)

    @pytest.mark.parametrize(
        "kind",
        ["DBA name", "DBA note", "typo", "abbreviation", "diacritics", "The ", "e-mail tenant"],
    )
    def test_each_kind_of_spelling_is_recognised(self, kind: str) -> None:
        pairs = [p for p in name_pairs.load() if p.perturbation.startswith(kind) or not p.is_match]
        (quality,) = name_pairs.measure(pairs, [DEFAULT_SUGGESTION_THRESHOLD])
        assert quality.with_match > 0
        assert quality.recall >= 0.80, name_pairs.mistakes(pairs, quality.threshold)
        assert quality.precision >= 0.99


names = st.lists(
    st.sampled_from(
        [
            "Acme",
            "acme",
            "Dental",
            "Group",
            "Inc",
            "LLC",
            "&",
            "and",
            "Café",
            "Cafe",
            "St.",
            "Bay",
            "Side",
            "Bayside",
            "Müller",
            "Co",
        ]
    ),
    min_size=1,
    max_size=4,
).map(" ".join)


class TestDeterminism:
    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(names, min_size=1, max_size=8),
        st.lists(names, min_size=1, max_size=8),
        st.randoms(),
    )
    def test_same_inputs_in_any_order_give_the_same_suggestions(
        self, vendor_names: list[str], account_names: list[str], rng: random.Random
    ) -> None:
        refs = [VendorAccountRef("v", f"V{i}", n) for i, n in enumerate(vendor_names)]
        accounts = [Account(f"A{i}", n) for i, n in enumerate(account_names)]
        first = suggest_account_mappings(refs, accounts, min_score=Decimal(0))
        shuffled_refs, shuffled_accounts = list(refs), list(accounts)
        rng.shuffle(shuffled_refs)
        rng.shuffle(shuffled_accounts)
        again = suggest_account_mappings(shuffled_refs, shuffled_accounts, min_score=Decimal(0))
        assert again == first
        assert all(Decimal(0) <= s.score <= Decimal(100) for s in first)


def assert_best_first(suggestions: Sequence[MappingSuggestion | ServiceSuggestion]) -> None:
    scores = [s.score for s in suggestions]
    assert scores == sorted(scores, reverse=True), suggestions


def assert_no_strong_look_alike(
    groups: dict[tuple[str, str], list[tuple[str, Decimal]]],
) -> None:
    """Per vendor account or SKU: best first, and two distinct candidates scored within
    the ambiguity margin of each other are both below any threshold a tenant can use to
    pre-select by default or to map without a person."""
    for key, candidates in groups.items():
        scores = [score for _, score in candidates]
        assert scores == sorted(scores, reverse=True), (key, candidates)
        for i, (target, score) in enumerate(candidates):
            for other, other_score in candidates[i + 1 :]:
                if other != target and abs(score - other_score) < Decimal(AMBIGUITY_MARGIN):
                    assert score < MIN_AUTO_APPLY_THRESHOLD, (key, candidates)
                    assert other_score < MIN_AUTO_APPLY_THRESHOLD, (key, candidates)
                    assert score < DEFAULT_SUGGESTION_THRESHOLD, (key, candidates)


account_names = st.lists(
    st.sampled_from(
        [
            "Acme",
            "ACME",
            "Acne",
            "Holdings",
            "Services",
            "Dental",
            "Dentl",
            "Group",
            "Inc",
            "Co",
            "&",
            "and",
            "Bay",
            "Side",
            "Bayside",
            "Ironwood",
            "Legal",
            "Müller",
            "Mueller",
        ]
    ),
    min_size=1,
    max_size=3,
).map(" ".join)
product_names = st.lists(
    st.sampled_from(
        [
            "Microsoft",
            "M365",
            "365",
            "Business",
            "Premium",
            "Prem",
            "BP",
            "Standard",
            "Std",
            "E3",
            "E5",
            "Plan",
            "1",
            "2",
            "Exchange",
            "Online",
            "Managed",
            "Workstation",
            "WS",
        ]
    ),
    min_size=1,
    max_size=4,
).map(" ".join)


class TestSuggestionsAreBestFirstAndNeverStronglyAmbiguous:
    """Whatever the names: suggestions come best first, and no candidate nearly as close
    as another distinct one scores where it could be pre-selected or applied."""

    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(account_names, min_size=1, max_size=4),
        st.lists(account_names, min_size=2, max_size=8),
    )
    def test_account_suggestions(self, vendor_names: list[str], names: list[str]) -> None:
        refs = [VendorAccountRef("v", f"V{i}", n) for i, n in enumerate(vendor_names)]
        accounts = [Account(f"A{i}", n) for i, n in enumerate(names)]
        groups: dict[tuple[str, str], list[tuple[str, Decimal]]] = {}
        for s in suggest_account_mappings(refs, accounts, min_score=Decimal(0), limit=8):
            groups.setdefault((s.vendor, s.vendor_account_id), []).append((s.account_id, s.score))
        assert_no_strong_look_alike(groups)

    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(product_names, min_size=1, max_size=4),
        st.lists(product_names, min_size=2, max_size=8),
    )
    def test_sku_suggestions(self, skus: list[str], names: list[str]) -> None:
        refs = [VendorSkuRef("v", f"SKU-{i}", n) for i, n in enumerate(skus)]
        lines = [ServiceLine(f"L{i}", n, f"P{i}") for i, n in enumerate(names)]
        groups: dict[tuple[str, str], list[tuple[str, Decimal]]] = {}
        for s in suggest_service_mappings(refs, lines, min_score=Decimal(0), limit=8):
            groups.setdefault((s.vendor, s.sku), []).append((s.service_line_id, s.score))
        assert_no_strong_look_alike(groups)
