"""Account-mapping suggestions: normalisation, exact matches, scores, and their quality."""

import random
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.domain import name_pairs
from trueup.domain import (
    DEFAULT_SUGGESTION_THRESHOLD,
    Account,
    AccountMapping,
    MatchBasis,
    VendorAccountRef,
    mappings_to_apply,
    name_aliases,
    normalise_name,
    suggest_account_mappings,
    suggest_for_account,
)

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
        assert [m.vendor_account for m in applied] == ["exact", "normalised"]

    def test_only_the_best_suggestion_of_an_account_can_apply(self) -> None:
        applied = mappings_to_apply(self.SUGGESTIONS, auto_apply_threshold=Decimal(0))
        assert sorted(m.vendor_account for m in applied) == ["exact", "fuzzy", "normalised"]
        assert len(applied) == 3


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
        best.setdefault(suggestion.vendor_account, (suggestion.account_id, suggestion.score))
    right = wrong = top_right = 0
    for ref, (_, psa) in zip(refs, pairs, strict=True):
        truth = by_name.get(psa)
        account_id, score = best.get(ref.vendor_account, (None, Decimal(0)))
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
