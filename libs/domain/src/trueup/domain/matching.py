"""Account-mapping suggestions: which PSA account a vendor account most likely is.

Vendor names never match PSA names exactly ("Acme, Inc." vs "ACME Incorporated"), so:

- **Exact** matches map themselves: a PSA account id carried in the vendor's data, or a
  name identical apart from case and spacing.
- Everything else gets **scored suggestions**. Names are normalised (diacritics, case,
  punctuation, "&" vs "and", legal suffixes even misspelt, abbreviations, e-mail domains,
  "The ..."), a "dba" name counts as an alias, and names are compared with rapidfuzz;
  abbreviations of several readings, and words written with a full stop, are read as the
  name compared with has them. A suggestion can reach the tenant's threshold
  (``DEFAULT_SUGGESTION_THRESHOLD`` when unset) only when every distinctive word of one
  name has a counterpart in the other (not merely one a changed letter apart: "O'Donnell"
  / "O'Connell") and no other candidate is nearly as close (nor one ranked above it: a
  worse candidate never outranks ambiguous better ones); otherwise its score stops at 79
  and the reason says why. Suggestions come best first; only the best, and only at or
  above the threshold, is pre-selected for a person.
- Nothing that is not exact is applied without a person, unless the tenant sets an
  auto-apply threshold (off by default; never below `MIN_AUTO_APPLY_THRESHOLD`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache

from rapidfuzz import fuzz, process

from trueup.domain.model import Account, AccountMapping, ServiceLine, ServiceMapping

# A suggestion at or above the threshold is pre-selected in the UI (and counted as a
# match by the quality measures); tenants may set their own (`suggestion_threshold`).
DEFAULT_SUGGESTION_THRESHOLD = Decimal(95)
# The lowest score a tenant may let map an account without a person (`auto_apply_threshold`):
# well above where doubtful candidates stop (79), so a look-alike never applies itself.
MIN_AUTO_APPLY_THRESHOLD = Decimal(90)
DEFAULT_MIN_SCORE = Decimal(60)
NORMALISED_MATCH_SCORE = Decimal(99)
# Fuzzy scores stop here so a name equal after normalising always ranks above them.
_FUZZY_CEILING = 98.0
EXACT_SCORE = Decimal(100)
# Two candidates closer than this are ambiguous: neither may be strong.
AMBIGUITY_MARGIN = 4.0
# A word counts as present in the other name when it is at least this similar to a word
# there (absorbs typos like "Accountng"/"Accounting" but not "Northside"/"Southside").
WORD_MATCH = 80.0
# Where a doubtful candidate's score stops (a distinctive word without a twin, or another
# account nearly as close): well below any sensible tenant threshold, because such a
# candidate is another business more often than not ("Ironwood Legal" / "Ironwood Dental").
_BELOW_THRESHOLD = 79.0

# Legal forms, dropped wherever they stand at the end of a name.
_LEGAL_FORMS = frozenset(
    [
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "co",
        "company",
        "llc",
        "llp",
        "lp",
        "lllp",
        "pllc",
        "plc",
        "pc",
        "pa",
        "ltd",
        "limited",
        "gmbh",
        "ag",
        "kg",
        "ohg",
        "ug",
        "sa",
        "sas",
        "sarl",
        "srl",
        "spa",
        "bv",
        "nv",
        "oy",
        "ab",
        "as",
        "aps",
        "asa",
        "pty",
        "pte",
        "bhd",
        "sdn",
        "kk",
        "sc",
        "sp",
    ]
)
# Legal forms long enough that a typo in them ("Comany") is still recognisably one.
_LONG_LEGAL_FORMS = ("company", "incorporated", "corporation", "limited")
# Words that add nothing to identity; ignored when checking that every word has a twin.
_GENERIC_WORDS = frozenset(
    [
        "the",
        "and",
        "of",
        "group",
        "holdings",
        "holding",
        "services",
        "service",
        "solutions",
        "associates",
        "partners",
        "international",
        "intl",
        "usa",
        "us",
        "america",
        "enterprises",
        "enterprise",
        "co",
        "company",
        "inc",
        "llc",
        "hq",
        "main",
        "office",
        "head",
        "site",
        "headquarters",
        "agency",
        "dr",
    ]
)
# Common spellings brought to one form before comparing.
_SYNONYMS = {
    "&": "and",
    "+": "and",
    "mgmt": "management",
    "mgt": "management",
    "vet": "veterinary",
    "coop": "cooperative",
    "physio": "physiotherapy",
    "acct": "accounting",
    "ste": "sainte",
    "mt": "mount",
    "ft": "fort",
    "bros": "brothers",
    "assoc": "associates",
    "assocs": "associates",
    "svcs": "services",
    "svc": "services",
    "mfg": "manufacturing",
    "intl": "international",
    "natl": "national",
    "dept": "department",
    "ctr": "center",
    "centre": "center",
    "univ": "university",
    "grp": "group",
    "hosp": "hospital",
    "dds": "dental",
    "tech": "technology",
    "technologies": "technology",
    "cpas": "cpa",
    "acctg": "accounting",
    "ins": "insurance",
    "constr": "construction",
    "eng": "engineering",
    "prop": "property",
    "pt": "physical therapy",
    "labs": "lab",
    "laboratories": "lab",
    "laboratory": "lab",
    # Street and place words as the postal services abbreviate them.
    "ave": "avenue",
    "blvd": "boulevard",
    "rd": "road",
    "ln": "lane",
    "hwy": "highway",
    "pkwy": "parkway",
    "hts": "heights",
    "hgts": "heights",
    "mtn": "mountain",
    "mtns": "mountains",
    "sq": "square",
    "twp": "township",
    "vly": "valley",
    "vlg": "village",
    "crk": "creek",
    "spgs": "springs",
    "hbr": "harbor",
    "jct": "junction",
    "cnty": "county",
    "cmty": "community",
    # Words of organisations' names as people shorten them.
    "acad": "academy",
    "assn": "association",
    "fdn": "foundation",
    "fndn": "foundation",
    "inst": "institute",
    "sch": "school",
    "schl": "school",
    "elem": "elementary",
    "bldg": "building",
    "bldrs": "builders",
    "hlth": "health",
    "maint": "maintenance",
    "mktg": "marketing",
    "mtg": "mortgage",
    "peds": "pediatrics",
    "chiro": "chiropractic",
    "clin": "clinic",
    "props": "properties",
    "sys": "systems",
    "whse": "warehouse",
    "equip": "equipment",
    "govt": "government",
    "distrib": "distribution",
    "transp": "transportation",
    "envtl": "environmental",
    "finl": "financial",
    "sr": "senior",
    "jr": "junior",
    "cu": "credit union",
    "fcu": "federal credit union",
    "bnb": "bed and breakfast",
    "1st": "first",
    "2nd": "second",
    "3rd": "third",
    "4th": "fourth",
    "5th": "fifth",
    "6th": "sixth",
    "7th": "seventh",
    "8th": "eighth",
    "9th": "ninth",
    "10th": "tenth",
}
# Abbreviations with several readings ("Co." is a county in "Jefferson Co. Library" and a
# company elsewhere): a name keeps the abbreviation, and it is read as whichever of its
# expansions the name it is compared with has.
_AMBIGUOUS_ABBREVIATIONS = {
    "co": ("county", "company"),
    "comm": ("community", "communications", "commercial", "commission", "commerce"),
    "med": ("medical", "medicine"),
    "ortho": ("orthodontics", "orthopedics", "orthopaedics", "orthopedic", "orthopaedic"),
    "mach": ("machining", "machine", "machinery"),
    "pharm": ("pharmacy", "pharmaceutical", "pharmaceuticals"),
    "dist": ("district", "distribution", "distributors", "distributing"),
    "ind": ("industries", "industrial", "independent"),
    "mkt": ("market", "marketing", "markets"),
    "trans": ("transportation", "transport", "transit"),
    "pk": ("park", "peak"),
    "pl": ("place", "plaza"),
    "elec": ("electric", "electrical", "electronics"),
    "fin": ("financial", "finance"),
}
_EXPANSIONS = frozenset(_SYNONYMS.values()) | frozenset(_AMBIGUOUS_ABBREVIATIONS)
_BED_AND_BREAKFAST = re.compile(r"\bb\s*(?:&|\+|and)\s*b\b")
_TRAILING_NOISE = _LEGAL_FORMS | {"the"}
_EMAIL_DOMAIN = re.compile(r"\.(onmicrosoft\.com|com|net|org|co\.uk|us|io|biz|edu)\b")
_BRACKETS = re.compile(r"[\(\[][^\)\]]*[\)\]]")
_NON_WORD = re.compile(r"[^a-z0-9&+ ]+")
_POSSESSIVE = re.compile(r"'s\b")
# "Smith Holdings LLC dba Smith Dental", "Smith Dental (d/b/a of Smith Holdings)": the
# business is known under either name.
_DBA = re.compile(
    r"\b(?:d\s*/\s*b\s*/\s*a|d\.b\.a\.?|dba|doing business as|t\s*/\s*a|trading as)"
    r"\b(?:\s+of\b)?"
)


class MatchBasis(StrEnum):
    """Why a suggestion was made."""

    PSA_ID = "psa_id"
    EXACT_NAME = "exact_name"
    NORMALISED_NAME = "normalised_name"
    FUZZY_NAME = "fuzzy_name"
    SKU_CODE = "sku_code"


@dataclass(frozen=True, slots=True)
class VendorAccountRef:
    """A vendor account to be mapped: its key, its name, and a PSA id if the vendor has one."""

    vendor: str
    vendor_account_id: str
    name: str
    psa_account_hint: str | None = None


@dataclass(frozen=True, slots=True)
class MappingSuggestion:
    """A scored candidate PSA account for a vendor account, with the reason."""

    vendor: str
    vendor_account_id: str
    vendor_name: str
    account_id: str
    account_name: str
    score: Decimal
    basis: MatchBasis
    reason: str

    @property
    def is_exact(self) -> bool:
        """True for matches that map themselves (PSA id or identical name)."""
        return self.basis in (MatchBasis.PSA_ID, MatchBasis.EXACT_NAME)

    def to_mapping(self) -> AccountMapping:
        """The account mapping accepting this suggestion creates."""
        return AccountMapping(self.vendor, self.vendor_account_id, self.account_id)


def _fold(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # Letters NFKD does not decompose.
    return stripped.casefold().replace("ø", "o").replace("æ", "ae").replace("ł", "l")


def exact_key(name: str) -> str:
    """The name with only case, Unicode form and spacing made uniform."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


@lru_cache(maxsize=65536)
def normalise_name(name: str) -> str:
    """Normalise a company name for comparison.

    Drops diacritics, case, bracketed notes, e-mail domains, punctuation and trailing
    legal forms; writes "&" as "and"; expands common abbreviations; joins initials.
    "Acme, Inc." and "ACME Incorporated" both become "acme".
    """
    text = _fold(name)
    text = _BRACKETS.sub(" ", text)
    text = _EMAIL_DOMAIN.sub(" ", text)
    text = _POSSESSIVE.sub("s", text)
    text = text.replace("'", "").replace("’", "")
    text = _BED_AND_BREAKFAST.sub(" bed and breakfast ", text)
    text = text.replace("&", " & ").replace("+", " + ")
    text = _NON_WORD.sub(" ", text)
    words = [_SYNONYMS.get(word, word) for word in text.split()]
    # "St." opens saints' names ("St. Mary's Clinic") and closes streets ("Elm St").
    words = [("saint" if i == 0 else "street") if w == "st" else w for i, w in enumerate(words)]
    # "A B C Plumbing" and "A.B.C. Plumbing" are "abc plumbing".
    joined: list[str] = []
    for word in words:
        if len(word) == 1 and word.isalpha() and joined and _is_initials(joined[-1]):
            joined[-1] += word
        elif (
            joined
            and joined[-1] == "o"
            and joined[-2:-1] != ["and"]
            and word.isalpha()
            and len(word) >= 3
        ):
            # "O Brien" is "O'Brien" that lost its apostrophe ("A & O Plumbing" is not).
            joined[-1] += word
        else:
            joined.append(word)
    # "The Harbor Group" and "Harbor Group, The"; "Acme Holdings Co. Ltd" loses "co ltd".
    while len(joined) > 1 and joined[0] == "the":
        joined.pop(0)
    while len(joined) > 1 and (joined[-1] in _TRAILING_NOISE or _misspelt_legal_form(joined[-1])):
        joined.pop()
    return " ".join(joined)


def _misspelt_legal_form(word: str) -> bool:
    return len(word) >= 5 and any(fuzz.ratio(word, form) >= 85 for form in _LONG_LEGAL_FORMS)


@lru_cache(maxsize=65536)
def name_aliases(name: str) -> tuple[str, ...]:
    """The normalised names a business goes by: both sides of a "dba" ("doing business
    as"), or just the normalised name."""
    parts = [normalise_name(part) for part in _DBA.split(_fold(name)) if part.strip(" ()")]
    aliases = tuple(dict.fromkeys(p for p in parts if p))
    return aliases or (normalise_name(name),)


def _is_initials(word: str) -> bool:
    return word.isalpha() and len(word) <= 3 and word not in _EXPANSIONS


def _distinct_words(normalised: str, generic: frozenset[str] = _GENERIC_WORDS) -> list[str]:
    return [w for w in normalised.split() if w not in generic]


def _missing_words(left: str, right: str, generic: frozenset[str] = _GENERIC_WORDS) -> list[str]:
    """Distinctive words of `left` with no similar word in `right` (joined forms count)."""
    right_words = right.split()
    right_joined = right.replace(" ", "")
    missing: list[str] = []
    for word in _distinct_words(left, generic):
        if word in right_joined and len(word) >= 3:
            continue
        best = max((fuzz.ratio(word, other) for other in right_words), default=0.0)
        if best < WORD_MATCH or (word.isdigit() and word not in right_words):
            missing.append(word)
    return missing


def name_score(left: str, right: str) -> float:
    """Similarity (0-100) of two normalised names: word order and spacing do not matter."""
    if not left or not right:
        return 0.0
    scores = [
        fuzz.token_sort_ratio(left, right),
        fuzz.ratio(left.replace(" ", ""), right.replace(" ", "")),
    ]
    # Compared again without generic words, so "Crestline Capital" and "Crestline Capital
    # Partners" count as equal; the missing-word check guards what this lets through.
    left_core, right_core = " ".join(_distinct_words(left)), " ".join(_distinct_words(right))
    if left_core and right_core:
        scores.append(fuzz.token_sort_ratio(left_core, right_core))
    return max(scores)


def _preselect_score(left: str, right: str, **_: object) -> float:
    return name_score(left, right)


@dataclass(frozen=True, slots=True)
class _Candidate:
    account: Account
    normalised: str
    score: float
    reason: str


def _read_abbreviations(name: str, other: str, shortened: frozenset[str]) -> str:
    """The name with its abbreviations read as the words the other name has: one of
    several readings ("jefferson co library" against "jefferson county library"), or a
    word written with a full stop that begins exactly one word there ("hist. soc." against
    "historical society"; without the stop, "Bay" against "Bayside" is another business)."""
    other_words = other.split()
    words = name.split()
    for i, word in enumerate(words):
        if word in other_words:
            continue
        readings = _AMBIGUOUS_ABBREVIATIONS.get(word, ())
        found = next((r for r in readings if r in other_words), None)
        if found is None and word in shortened:
            starting = {o for o in other_words if o.startswith(word) and len(o) >= len(word) + 2}
            found = next(iter(starting)) if len(starting) == 1 else None
        if found is not None:
            words[i] = found
    return " ".join(words)


_WORD_WITH_STOP = re.compile(r"\b([a-z]{2,})\.(?=[\s,]|$)")


@lru_cache(maxsize=65536)
def _shortened_words(name: str) -> frozenset[str]:
    """Words written with a full stop after them ("Hist.", "Prof."): abbreviations."""
    return frozenset(_WORD_WITH_STOP.findall(_fold(name)))


def _changed_letter(word: str, other: str) -> bool:
    """Whether two words of one length differ by changed letters, not by two letters
    swapped ("oconnell" / "odonnell", but not "juniepr" / "juniper")."""
    if len(word) != len(other) or word == other:
        return False
    differ = [i for i, (a, b) in enumerate(zip(word, other, strict=True)) if a != b]
    swapped = len(differ) == 2 and differ[1] == differ[0] + 1 and sorted(word) == sorted(other)
    return not swapped


def _respelled_words(left: str, right: str) -> list[str]:
    """Words of `left` whose only close counterparts in `right` have a letter changed:
    names one letter apart are as often two families' names (O'Donnell / O'Connell,
    Larson / Carson) as a typo, while a typed name more often drops, doubles or swaps."""
    right_words = right.split()
    respelled: list[str] = []
    for word in _distinct_words(left):
        if word in right_words or word.isdigit():
            continue
        close = [o for o in right_words if fuzz.ratio(word, o) >= WORD_MATCH]
        if close and all(_changed_letter(word, o) for o in close):
            respelled.append(word)
    return respelled


def _judge(vendor: str, vendor_norm: str, account: Account, account_norm: str) -> _Candidate:
    vendor_read = _read_abbreviations(vendor_norm, account_norm, _shortened_words(vendor))
    account_read = _read_abbreviations(account_norm, vendor_norm, _shortened_words(account.name))
    score = name_score(vendor_read, account_read)
    missing = _missing_words(vendor_read, account_read) + _missing_words(account_read, vendor_read)
    if missing:
        capped = min(score, _BELOW_THRESHOLD)
        reason = f"names {score:.0f}% similar; words without a counterpart: {', '.join(missing)}"
        return _Candidate(account, account_norm, capped, reason)
    respelled = _respelled_words(vendor_read, account_read)
    if respelled:
        capped = min(score, _BELOW_THRESHOLD)
        reason = (
            f"names {score:.0f}% similar; a letter changed in {', '.join(respelled)}: "
            "perhaps another name"
        )
        return _Candidate(account, account_norm, capped, reason)
    return _Candidate(
        account,
        account_norm,
        score,
        f"names {score:.0f}% similar after normalising ('{vendor_read}' ~ '{account_read}')",
    )


def _decimal_score(score: float) -> Decimal:
    return Decimal(f"{min(score, _FUZZY_CEILING):.1f}")


def suggest_for_account(
    vendor_account_id: VendorAccountRef,
    accounts: Sequence[Account],
    *,
    min_score: Decimal = DEFAULT_MIN_SCORE,
    limit: int = 3,
) -> tuple[MappingSuggestion, ...]:
    """Up to `limit` candidate PSA accounts for one vendor account, best first."""
    return _suggest(vendor_account_id, accounts, _Normalised.of(accounts), min_score, limit)


@dataclass(frozen=True, slots=True)
class _Normalised:
    accounts: tuple[Account, ...]
    # Every alias of every account, and the index in `accounts` of the account it names.
    names: tuple[str, ...]
    owners: tuple[int, ...]
    by_id: dict[str, Account]
    by_exact: dict[str, list[Account]]
    by_normalised: dict[str, list[Account]]

    @classmethod
    def of(cls, accounts: Sequence[Account]) -> _Normalised:
        ordered = tuple(sorted(accounts, key=lambda a: (a.name, a.id)))
        by_exact: dict[str, list[Account]] = {}
        by_normalised: dict[str, list[Account]] = {}
        names: list[str] = []
        owners: list[int] = []
        for i, account in enumerate(ordered):
            by_exact.setdefault(exact_key(account.name), []).append(account)
            for alias in name_aliases(account.name):
                names.append(alias)
                owners.append(i)
                by_normalised.setdefault(alias, []).append(account)
        return cls(
            ordered,
            tuple(names),
            tuple(owners),
            {a.id: a for a in ordered},
            by_exact,
            by_normalised,
        )


def _suggestion(
    ref: VendorAccountRef, account: Account, score: Decimal, basis: MatchBasis, reason: str
) -> MappingSuggestion:
    return MappingSuggestion(
        vendor=ref.vendor,
        vendor_account_id=ref.vendor_account_id,
        vendor_name=ref.name,
        account_id=account.id,
        account_name=account.name,
        score=score,
        basis=basis,
        reason=reason,
    )


def _suggest(
    ref: VendorAccountRef,
    accounts: Sequence[Account],
    index: _Normalised,
    min_score: Decimal,
    limit: int,
) -> tuple[MappingSuggestion, ...]:
    if ref.psa_account_hint is not None and ref.psa_account_hint in index.by_id:
        account = index.by_id[ref.psa_account_hint]
        reason = f"the vendor's data carries PSA account id {ref.psa_account_hint}"
        return (_suggestion(ref, account, EXACT_SCORE, MatchBasis.PSA_ID, reason),)
    exact = index.by_exact.get(exact_key(ref.name), [])
    if len(exact) == 1:
        reason = "identical name"
        return (_suggestion(ref, exact[0], EXACT_SCORE, MatchBasis.EXACT_NAME, reason),)
    aliases = name_aliases(ref.name)
    same = list({a.id: a for alias in aliases for a in index.by_normalised.get(alias, [])}.values())
    if len(same) == 1:
        alias = next(a for a in aliases if a in index.by_normalised)
        reason = f"same name after normalising ('{alias}')"
        return (
            _suggestion(ref, same[0], NORMALISED_MATCH_SCORE, MatchBasis.NORMALISED_NAME, reason),
        )
    cutoff = float(min_score)
    best: dict[str, _Candidate] = {}
    for alias in aliases:
        found = process.extract(
            alias,
            index.names,
            scorer=_preselect_score,
            limit=max(limit, 2) + 3,
            score_cutoff=min(cutoff, _BELOW_THRESHOLD - AMBIGUITY_MARGIN),
        )
        for _, _, i in found:
            candidate = _judge(ref.name, alias, index.accounts[index.owners[i]], index.names[i])
            known = best.get(candidate.account.id)
            if known is None or candidate.score > known.score:
                best[candidate.account.id] = candidate
    judged = sorted(best.values(), key=lambda c: (-round(c.score, 1), c.account.name, c.account.id))
    judged = _resolve_ambiguity(judged, same)
    return tuple(
        _suggestion(ref, c.account, _decimal_score(c.score), MatchBasis.FUZZY_NAME, c.reason)
        for c in judged[:limit]
        if c.score >= cutoff
    )


def _ambiguity_notes(ranked: Sequence[tuple[float, str]]) -> list[str | None]:
    """For candidates ranked best first, as (score, name): why each must stop below the
    threshold, or None when it may keep its score.

    A candidate within `AMBIGUITY_MARGIN` of another cannot be told apart from it, so
    neither may be strong. One ranked below such a candidate stops too: were it left
    strong, a worse candidate would outrank the ambiguous better ones and could be
    pre-selected in their place.
    """
    notes: list[str | None] = []
    below_ambiguous = False
    for i, (score, _) in enumerate(ranked):
        # Ranked by score, so the nearest other candidates are the neighbours.
        near = [
            ranked[j][1]
            for j in (i - 1, i + 1)
            if 0 <= j < len(ranked) and abs(ranked[j][0] - score) < AMBIGUITY_MARGIN
        ]
        if near:
            notes.append(f"ambiguous: '{near[0]}' is nearly as close")
            below_ambiguous = True
        elif below_ambiguous:
            notes.append("ambiguous: closer candidates cannot be told apart")
        else:
            notes.append(None)
    return notes


def _resolve_ambiguity(judged: list[_Candidate], same: list[Account]) -> list[_Candidate]:
    """The candidates (ranked best first), each that cannot be told apart from another
    stopped below the threshold with the reason why, still best first."""
    if len(same) > 1:
        # Several accounts bear the vendor's name once normalised: they come first, and
        # no candidate may be strong.
        names = " / ".join(a.name for a in same)
        first = [
            _Candidate(c.account, c.normalised, _BELOW_THRESHOLD, f"several accounts: {names}")
            for c in judged
            if c.account in same
        ]
        rest = [
            _capped(c, "ambiguous: several accounts have this name")
            for c in judged
            if c.account not in same
        ]
        return first + sorted(rest, key=lambda c: -round(c.score, 1))
    # Compared as they will be shown (at most the ceiling, to a tenth), so two scores a
    # person sees within the margin are never both strong.
    notes = _ambiguity_notes([(float(_decimal_score(c.score)), c.account.name) for c in judged])
    resolved = [
        c if note is None else _capped(c, note) for c, note in zip(judged, notes, strict=True)
    ]
    # Stable: candidates stopped at one score keep their order by score before stopping.
    return sorted(resolved, key=lambda c: -round(c.score, 1))


def _capped(candidate: _Candidate, note: str) -> _Candidate:
    return _Candidate(
        candidate.account,
        candidate.normalised,
        min(candidate.score, _BELOW_THRESHOLD),
        f"{candidate.reason}; {note}",
    )


def suggest_account_mappings(
    vendor_accounts: Iterable[VendorAccountRef],
    accounts: Sequence[Account],
    *,
    min_score: Decimal = DEFAULT_MIN_SCORE,
    limit: int = 3,
) -> tuple[MappingSuggestion, ...]:
    """Suggestions for many vendor accounts, grouped by vendor account, best first.

    Deterministic: the same inputs give the same suggestions in the same order.
    """
    index = _Normalised.of(accounts)
    ordered = sorted(vendor_accounts, key=lambda r: (r.vendor, r.vendor_account_id))
    result: list[MappingSuggestion] = []
    for ref in ordered:
        result.extend(_suggest(ref, accounts, index, min_score, limit))
    return tuple(result)


def suggestion_threshold(tenant_threshold: Decimal | None) -> Decimal:
    """The score from which a suggestion is pre-selected for a person: the tenant's
    `suggestion_threshold`, or `DEFAULT_SUGGESTION_THRESHOLD` when the tenant set none."""
    return DEFAULT_SUGGESTION_THRESHOLD if tenant_threshold is None else tenant_threshold


def preselected(rank: int, score: Decimal, threshold: Decimal) -> bool:
    """Whether a suggestion may fill the choice in before a person looks: only the best
    one of its vendor account or SKU (rank 0), and only at or above the threshold."""
    return rank == 0 and score >= threshold


def mappings_to_apply(
    suggestions: Iterable[MappingSuggestion],
    *,
    auto_apply_threshold: Decimal | None = None,
) -> tuple[AccountMapping, ...]:
    """Mappings to create without a person: exact matches, plus the best suggestion per
    vendor account at or above the tenant's auto-apply threshold when one is set.

    The auto-apply threshold is not the pre-selection threshold: lowering what a person is
    offered must never map look-alikes with nobody looking, so a threshold below
    `MIN_AUTO_APPLY_THRESHOLD` is refused.
    """
    if auto_apply_threshold is not None and auto_apply_threshold < MIN_AUTO_APPLY_THRESHOLD:
        raise ValueError(
            f"auto-apply threshold must be at least {MIN_AUTO_APPLY_THRESHOLD}, "
            f"got {auto_apply_threshold}"
        )
    chosen: dict[tuple[str, str], MappingSuggestion] = {}
    seen: set[tuple[str, str]] = set()
    for suggestion in suggestions:
        key = (suggestion.vendor, suggestion.vendor_account_id)
        if key in seen:
            continue  # only the best suggestion of a vendor account may apply itself
        seen.add(key)
        if suggestion.is_exact or (
            auto_apply_threshold is not None and suggestion.score >= auto_apply_threshold
        ):
            chosen[key] = suggestion
    return tuple(chosen[key].to_mapping() for key in sorted(chosen))


# --- vendor SKU -> service line -------------------------------------------------------
#
# Vendors name products by code ("MST-365-BP-M") and, when they have a catalogue, by name
# ("Microsoft 365 Business Premium"); PSAs by the MSP's own product name. Codes are read
# by expanding the abbreviations distributors use; names are compared like account names,
# with one difference that matters: products of one family differ by a single word
# ("Business Premium" / "Business Standard", "E3" / "E5", "Plan 1" / "Plan 2"), so every
# distinctive word must have its counterpart, or the score stops below any threshold.

_PRODUCT_ABBREVIATIONS = {
    "mst": "microsoft",
    "msft": "microsoft",
    "ms": "microsoft",
    "m365": "microsoft 365",
    "ms365": "microsoft 365",
    "microsoft365": "microsoft 365",
    "o365": "office 365",
    "office365": "office 365",
    "bp": "business premium",
    "bb": "business basic",
    "bs": "business standard",
    "bus": "business",
    "biz": "business",
    "std": "standard",
    "stnd": "standard",
    "prem": "premium",
    "ent": "enterprise",
    "exo": "exchange online",
    "p1": "plan 1",
    "p2": "plan 2",
    "mdb": "defender business",
    "mde": "defender endpoint",
    "def": "defender",
    "ws": "workstation",
    "wks": "workstation",
    "wkstn": "workstation",
    "srv": "server",
    "svr": "server",
    "bkp": "backup",
    "bck": "backup",
    "acr": "acronis",
    "cpc": "cyber protect cloud",
    "s1": "sentinelone",
    "sat": "security awareness training",
    "rmm": "remote monitoring management",
    "av": "antivirus",
    "mgd": "managed",
    "sec": "security",
    "phn": "phone",
}
# Billing terms and units that say nothing about which product it is.
_PRODUCT_NOISE = frozenset(
    [
        "m",
        "mo",
        "mth",
        "month",
        "monthly",
        "y",
        "yr",
        "annual",
        "annually",
        "nce",
        "trial",
        "license",
        "licence",
        "licenses",
        "licences",
        "subscription",
        "sub",
        "per",
        "for",
        "the",
        "of",
        "and",
        "with",
        "a",
    ]
)
# Words that may stand on one side only ("Microsoft Defender for Business" is "Defender
# for Business"; "Huntress Managed EDR" is "Huntress EDR").
_PRODUCT_GENERIC = frozenset(
    ["microsoft", "managed", "agent", "agents", "user", "users", "seat", "seats", "device"]
)
_CODE_SPLIT = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=16384)
def normalise_product(text: str) -> str:
    """A product name or SKU code in one comparable form: "MST-365-BP-M" and "Microsoft 365
    Business Premium" both become "microsoft 365 business premium"."""
    words: list[str] = []
    for word in _CODE_SPLIT.split(_fold(text)):
        if not word or word in _PRODUCT_NOISE:
            continue
        words.extend(_PRODUCT_ABBREVIATIONS.get(word, word).split())
    return " ".join(words)


@dataclass(frozen=True, slots=True)
class VendorSkuRef:
    """A vendor SKU to be mapped: its code and the product name the vendor gives it."""

    vendor: str
    sku: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class ServiceSuggestion:
    """A scored candidate service line for a vendor SKU, with the reason."""

    vendor: str
    sku: str
    sku_name: str
    service_line_id: str
    service_line_name: str
    score: Decimal
    basis: MatchBasis
    reason: str

    @property
    def is_exact(self) -> bool:
        """True for SKUs whose name is the service line's name: they map themselves."""
        return self.basis is MatchBasis.EXACT_NAME

    def to_mapping(self) -> ServiceMapping:
        """The service mapping accepting this suggestion creates (factor 1, rounding up)."""
        return ServiceMapping(self.vendor, self.sku, self.service_line_id)


def _exact_lines(lines: Sequence[ServiceLine]) -> dict[str, ServiceLine]:
    by_name: dict[str, ServiceLine] = {}
    for line in lines:
        by_name.setdefault(normalise_name(line.name), line)
    return by_name


def _exact_line(ref: VendorSkuRef, by_name: dict[str, ServiceLine]) -> ServiceLine | None:
    # What reconciliation has always mapped by itself: the SKU's name (or its code) equal
    # to a service line's name once normalised; the first such line wins.
    return by_name.get(normalise_name(ref.name or ref.sku)) or by_name.get(normalise_name(ref.sku))


def service_mappings_to_apply(
    skus: Iterable[VendorSkuRef], lines: Sequence[ServiceLine]
) -> tuple[ServiceMapping, ...]:
    """Service mappings to create without a person: SKUs named exactly like a service line.

    A SKU may come with several names (one per usage record); the first that matches wins.
    """
    by_name = _exact_lines(lines)
    out: dict[tuple[str, str], ServiceMapping] = {}
    for ref in skus:
        line = _exact_line(ref, by_name)
        if line is not None and (ref.vendor, ref.sku) not in out:
            out[(ref.vendor, ref.sku)] = ServiceMapping(ref.vendor, ref.sku, line.id)
    return tuple(out.values())


@dataclass(frozen=True, slots=True)
class _ProductCandidate:
    line: ServiceLine
    score: float
    basis: MatchBasis
    reason: str


def _product_texts(*texts: str) -> list[str]:
    return list(dict.fromkeys(t for t in (normalise_product(x) for x in texts if x) if t))


def _product_score(left: str, right: str) -> float:
    scores = [
        fuzz.token_sort_ratio(left, right),
        fuzz.ratio(left.replace(" ", ""), right.replace(" ", "")),
    ]
    left_core = " ".join(_distinct_words(left, _PRODUCT_GENERIC))
    right_core = " ".join(_distinct_words(right, _PRODUCT_GENERIC))
    if left_core and right_core:
        scores.append(fuzz.token_sort_ratio(left_core, right_core))
    return max(scores)


def _judge_product(ref: VendorSkuRef, line: ServiceLine) -> _ProductCandidate:
    vendor_texts = [(t, "name") for t in _product_texts(ref.name)]
    vendor_texts += [(t, "code") for t in _product_texts(ref.sku) if t not in dict(vendor_texts)]
    line_texts = _product_texts(line.name, line.product_id)
    best: tuple[float, str, str, str] | None = None
    for vendor_text, source in vendor_texts:
        for line_text in line_texts:
            score = _product_score(vendor_text, line_text)
            if best is None or score > best[0]:
                best = (score, vendor_text, source, line_text)
    if best is None:
        return _ProductCandidate(line, 0.0, MatchBasis.FUZZY_NAME, "nothing to compare")
    score, vendor_text, source, line_text = best
    basis = MatchBasis.SKU_CODE if source == "code" else MatchBasis.FUZZY_NAME
    what = f"SKU code '{ref.sku}' read as" if source == "code" else "product"
    missing = _missing_words(vendor_text, line_text, _PRODUCT_GENERIC) + _missing_words(
        line_text, vendor_text, _PRODUCT_GENERIC
    )
    if missing:
        reason = (
            f"{what} '{vendor_text}' {score:.0f}% similar to '{line_text}'; words without "
            f"a counterpart: {', '.join(missing)}"
        )
        return _ProductCandidate(line, min(score, _BELOW_THRESHOLD), basis, reason)
    if vendor_text == line_text:
        return _ProductCandidate(
            line, float(NORMALISED_MATCH_SCORE), basis, f"{what} '{vendor_text}': same product"
        )
    return _ProductCandidate(
        line,
        min(score, _FUZZY_CEILING),
        basis,
        f"{what} '{vendor_text}' {score:.0f}% similar to '{line_text}'",
    )


def _with_cores(texts: list[str]) -> list[str]:
    """The texts, and each without its generic words ("managed server" is also "server")."""
    cores = (" ".join(_distinct_words(t, _PRODUCT_GENERIC)) for t in texts)
    return list(dict.fromkeys([*texts, *(c for c in cores if c)]))


def suggest_service_mappings(
    skus: Iterable[VendorSkuRef],
    lines: Sequence[ServiceLine],
    *,
    min_score: Decimal = DEFAULT_MIN_SCORE,
    limit: int = 3,
) -> tuple[ServiceSuggestion, ...]:
    """Up to `limit` candidate service lines per vendor SKU, grouped by SKU, best first.

    A SKU named exactly like a service line gets that line alone (score 100, exact).
    Deterministic: the same inputs give the same suggestions in the same order.
    """
    by_name = _exact_lines(lines)
    ordered_lines = sorted(lines, key=lambda line: (line.name, line.id))
    # Every text a line is known by, and the line it belongs to: a cheap C-level pass over
    # them picks the few lines worth judging word by word.
    texts: list[str] = []
    owners: list[int] = []
    for i, line in enumerate(ordered_lines):
        for text in _with_cores(_product_texts(line.name, line.product_id)):
            texts.append(text)
            owners.append(i)
    cutoff = float(min_score)
    result: list[ServiceSuggestion] = []
    for ref in sorted(skus, key=lambda r: (r.vendor, r.sku)):
        exact = _exact_line(ref, by_name)
        if exact is not None:
            result.append(
                _service_suggestion(
                    ref, exact, EXACT_SCORE, MatchBasis.EXACT_NAME, "same name as the service line"
                )
            )
            continue
        worth = {
            owners[i]
            for text in _with_cores(_product_texts(ref.name, ref.sku))
            for _, _, i in process.extract(
                text,
                texts,
                scorer=fuzz.token_sort_ratio,
                limit=limit + 5,
                score_cutoff=max(min(cutoff, _BELOW_THRESHOLD) - 15, 0.0),
            )
        }
        judged = sorted(
            (_judge_product(ref, ordered_lines[i]) for i in sorted(worth)),
            key=lambda c: (-round(c.score, 1), c.line.name, c.line.id),
        )
        notes = _ambiguity_notes([(round(c.score, 1), c.line.name) for c in judged])
        judged = sorted(
            (
                c
                if note is None
                else _ProductCandidate(
                    c.line, min(c.score, _BELOW_THRESHOLD), c.basis, f"{c.reason}; {note}"
                )
                for c, note in zip(judged, notes, strict=True)
            ),
            # Stable: candidates stopped at one score keep their order by score before.
            key=lambda c: -round(c.score, 1),
        )
        result.extend(
            _service_suggestion(ref, c.line, Decimal(f"{c.score:.1f}"), c.basis, c.reason)
            for c in judged[:limit]
            if c.score >= cutoff
        )
    return tuple(result)


def _service_suggestion(
    ref: VendorSkuRef, line: ServiceLine, score: Decimal, basis: MatchBasis, reason: str
) -> ServiceSuggestion:
    return ServiceSuggestion(
        vendor=ref.vendor,
        sku=ref.sku,
        sku_name=ref.name,
        service_line_id=line.id,
        service_line_name=line.name,
        score=score,
        basis=basis,
        reason=reason,
    )
