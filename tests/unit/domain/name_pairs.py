"""Labelled vendor/PSA account-name pairs, generated deterministically, and how well the
account suggestions do on them.

`generate()` builds the fixture from a list of realistic business names and the ways
vendors really spell them (legal forms dropped or changed, "&" for "and", abbreviations,
diacritics lost, typos, DBA names, "The ...", e-mail tenants, notes in brackets), plus hard
negatives: businesses the MSP does not serve whose names look like ones it does ("Ironwood
Legal" when the PSA has "Ironwood Dental Co."). `data/name_pairs.tsv` is the committed
copy; a test proves the generator still writes exactly that file.

Regenerate after a deliberate change: `python -m tests.unit.domain.name_pairs`.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from trueup.domain import Account, VendorAccountRef, suggest_account_mappings

SEED = 19
FIXTURE = Path(__file__).parent / "data" / "name_pairs.tsv"
# Written by hand from other names and other spellings: how the matcher does on names the
# generator did not make. The first set was held out until its misses widened the list of
# abbreviations; the second was written after that, by someone who had not seen the matcher.
HAND_WRITTEN = (
    Path(__file__).parent / "data" / "name_pairs_handwritten.tsv",
    Path(__file__).parent / "data" / "name_pairs_handwritten2.tsv",
)

# Distinctive first words; several share a stem so that look-alikes exist.
_FIRST = (
    "Ironwood",
    "Ironside",
    "Northside",
    "Southside",
    "Westfield",
    "Westwood",
    "Lakeside",
    "Lakeshore",
    "Bayside",
    "Bayview",
    "Riverbend",
    "Riverside",
    "Oakmont",
    "Oakridge",
    "Cedar Park",
    "Cedar Point",
    "Silver Lake",
    "Silverton",
    "Blue Ridge",
    "Bluebird",
    "Summit",
    "Summerville",
    "Harbor Point",
    "Harborview",
    "Greenleaf",
    "Greenfield",
    "Pinnacle",
    "Granite",
    "Evergreen",
    "Falcon",
    "Keystone",
    "Meridian",
    "Tidewater",
    "Willow Creek",
    "Stonebridge",
    "Fairview",
    "Prairie Wind",
    "Red Rock",
    "Quail Ridge",
    "Mesa Verde",
    "Sequoia",
    "Tanglewood",
    "Kensington",
    "Brightwater",
    "Hawthorne",
    "Juniper",
    "Magnolia",
    "Copperfield",
    "Aspen Grove",
    "Birchwood",
)
# The business a name describes; the same first word with another of these is another
# business.
_KIND = (
    "Dental",
    "Legal",
    "Law Group",
    "Family Dental",
    "Veterinary Clinic",
    "Animal Hospital",
    "Accounting & Tax",
    "Construction",
    "Roofing",
    "Plumbing & Heating",
    "Orthodontics",
    "Pediatrics",
    "Family Medicine",
    "Insurance Agency",
    "Realty",
    "Wealth Advisors",
    "Title Company",
    "Credit Union",
    "Architects",
    "Engineering",
    "Manufacturing",
    "Logistics",
    "Auto Repair",
    "Landscaping",
    "Physical Therapy",
    "Chiropractic",
    "Dermatology",
    "Optometry",
    "Pharmacy",
    "Brewing",
    "Medical Center",
    "Property Management",
    "Associates",
    "Electric",
    "Printing",
)
_LEGAL = ("LLC", "Inc.", "Co.", "Ltd.", "Corp.", "PLLC", "P.C.", "LLP", "Incorporated", "")
# Names that are neither "<place> <kind>" nor plain ASCII.
_SPECIAL = (
    "Café Olé Roasters",
    "Müller Präzisionstechnik GmbH",
    "Société Générale de Transport SA",
    "Zürich Re Consulting AG",
    "Crème de la Crème Bakery",
    "Señor Taco Restaurants",
    "Åkesson Design AB",
    "Québec Maple Exports Inc.",
    "Nørby Marine ApS",
    "Łódź Imports Sp",
    "Johnson Brothers Plumbing Inc",
    "Smith and Jones CPA",
    "Saint Mary's Parish School",
    "Mount Hood Orthodontics, P.C.",
    "Pacific Manufacturing Company",
    "Greenberg International Holdings",
    "Baker Street Management LLC",
    "Fenwick and West Accounting",
    "Rivera and Sons Construction",
    "Ashford and Sons Ltd",
    "Delgado Technologies Inc.",
    "Hartley Medical Group PC",
    "O'Brien Veterinary Hospital",
    "McAllister & Kerr Attorneys",
    "Van der Berg Logistics B.V.",
    "Fort Collins Family Dentistry",
    "The Harbor Group",
    "The Learning Tree Academy",
    "Whitman Associates",
    "Kowalski Brothers Auto",
)
# Holding companies that trade under another name.
_DBA = (
    ("Smith Holdings LLC", "Smith Dental"),
    ("RJ Ventures Inc.", "Coastal Pet Care"),
    ("Patel Enterprises LLC", "Sunrise Pharmacy"),
    ("Garcia Family Partners", "Garcia Landscaping"),
    ("Nguyen Medical Corp.", "Lotus Family Clinic"),
    ("Okafor Group Ltd.", "Lagos Kitchen"),
    ("Bennett Capital LLC", "Bennett Auto Body"),
    ("Hollis Brothers Inc.", "Hollis Hardware"),
    ("Mercer Investments LLC", "Mercer Storage"),
    ("Donovan Holdings Inc.", "Donovan Funeral Home"),
)
# Written by hand: other businesses whose names look like a client's. The vendor's business
# is never a PSA account of the fixture.
_HARD_NEGATIVES = (
    ("Ironwood Legal", "Ironwood Dental Co."),
    ("IRONWOOD LEGAL LLP", "Ironwood Dental Co."),
    ("Ironwood Dental Lab", "Ironwood Dental Co."),
    ("District 8 Schools", "District 9 Schools"),
    ("First Baptist Church of Shelbyville", "First Baptist Church of Springfield"),
    ("Keller Williams Realty Uptown", "Keller Williams Realty Downtown"),
    ("Anderson Dental", "Anderson and Patel Dental"),
    ("St. Mary's Hospital", "Saint Mary's Parish School"),
    ("Johnson Brothers Roofing", "Johnson Brothers Plumbing Inc"),
    ("Pacific Dental Manufacturing", "Pacific Manufacturing Company"),
    ("Hartley Medical Supply", "Hartley Medical Group PC"),
    ("O'Brien Veterinary Supply", "O'Brien Veterinary Hospital"),
    ("Van der Berg Transport", "Van der Berg Logistics B.V."),
    ("Fort Collins Family Medicine", "Fort Collins Family Dentistry"),
    ("Harbor Freight Group", "The Harbor Group"),
    ("Kowalski Brothers Roofing", "Kowalski Brothers Auto"),
    ("Crème de la Crème Catering", "Crème de la Crème Bakery"),
    ("Cafe Ole Catering", "Café Olé Roasters"),
    ("Müller Logistik GmbH", "Müller Präzisionstechnik GmbH"),
    ("Smith Orthodontics", "Smith Dental"),
    ("Sunrise Senior Living", "Sunrise Pharmacy"),
    ("Lotus Family Dental", "Lotus Family Clinic"),
)
_ABBREVIATIONS = (
    ("Associates", "Assoc."),
    ("Manufacturing", "Mfg."),
    ("Brothers", "Bros."),
    ("Veterinary", "Vet"),
    ("Medical", "Med."),
    ("Center", "Ctr"),
    ("Management", "Mgmt"),
    ("Accounting", "Acctg"),
    ("International", "Intl"),
    ("Technologies", "Tech"),
    ("Mount", "Mt."),
    ("Saint", "St."),
    ("Company", "Co."),
    ("Construction", "Constr."),
    ("Engineering", "Eng."),
    ("Physical Therapy", "PT"),
    ("Property", "Prop."),
    ("Insurance", "Ins."),
)


@dataclass(frozen=True, slots=True)
class NamePair:
    """A vendor's spelling, a PSA account name, and whether they are the same business."""

    vendor_name: str
    psa_name: str
    is_match: bool
    perturbation: str


def _psa_names(rng: random.Random) -> tuple[list[str], list[str]]:
    """(served, unserved) canonical names: served ones are PSA accounts."""
    combos = [(first, kind) for first in _FIRST for kind in _KIND]
    rng.shuffle(combos)
    served: list[str] = []
    unserved: list[str] = []
    for first, kind in combos[:420]:
        legal = rng.choice(_LEGAL)
        name = f"{first} {kind}" + (f" {legal}" if legal else "")
        (served if len(served) < 300 and rng.random() < 0.72 else unserved).append(name)
    served += list(_SPECIAL)
    served += [f"{trading}" for _, trading in _DBA]
    served += [psa for _, psa in _HARD_NEGATIVES if psa not in served]
    # The hand-written negatives' own businesses must not be clients.
    theirs = {_strip_legal(vendor).casefold() for vendor, _ in _HARD_NEGATIVES}
    served = [name for name in served if _strip_legal(name).casefold() not in theirs]
    return served, unserved


def _typo(rng: random.Random, name: str) -> str:
    words = name.split()
    long_words = [i for i, w in enumerate(words) if len(w) >= 7 and w.isalpha()]
    if not long_words:
        return name
    i = rng.choice(long_words)
    word = words[i]
    pos = rng.randrange(2, len(word) - 2)
    kind = rng.choice(("drop", "swap", "double"))
    if kind == "drop":
        word = word[:pos] + word[pos + 1 :]
    elif kind == "swap":
        word = word[:pos] + word[pos + 1] + word[pos] + word[pos + 2 :]
    else:
        word = word[:pos] + word[pos] + word[pos:]
    words[i] = word
    return " ".join(words)


def _strip_legal(name: str) -> str:
    words = name.replace(",", "").split()
    while len(words) > 1 and words[-1].rstrip(".") in {
        "LLC",
        "Inc",
        "Co",
        "Ltd",
        "Corp",
        "PLLC",
        "P.C",
        "LLP",
        "Incorporated",
        "GmbH",
        "SA",
        "AG",
        "AB",
        "ApS",
        "Sp",
        "B.V",
        "PC",
    }:
        words.pop()
    return " ".join(words)


def _ascii(name: str) -> str:
    import unicodedata

    folded = unicodedata.normalize("NFKD", name)
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return plain.replace("ø", "o").replace("Ø", "O").replace("ł", "l").replace("Ł", "L")


def _variants(rng: random.Random, name: str) -> list[tuple[str, str]]:
    """Realistic vendor spellings of one PSA name, each with what was done to it."""
    base = _strip_legal(name)
    out: list[tuple[str, str]] = [
        (base, "legal form dropped"),
        (base.upper() + rng.choice((" INC", " LLC", "", " CO")), "upper case, other legal form"),
        (_typo(rng, base), "typo"),
    ]
    if "&" in base:
        out.append((base.replace("&", "and"), "& as and"))
    elif " and " in base:
        out.append((base.replace(" and ", " & "), "and as &"))
    for long, short in _ABBREVIATIONS:
        if long in base:
            out.append((base.replace(long, short, 1), f"abbreviation {short}"))
            break
    if _ascii(name) != name:
        out.append((_ascii(name), "diacritics dropped"))
        out.append((_ascii(base).lower(), "diacritics and case dropped"))
    if base.startswith("The "):
        out.append((base[4:] + ", The", "The moved to the end"))
        out.append((base[4:], "The dropped"))
    else:
        out.append(("The " + base, "The added"))
    choice = rng.random()
    if choice < 0.25:
        slug = "".join(ch for ch in _ascii(base).lower() if ch.isalnum())
        out.append((f"{slug}.onmicrosoft.com", "e-mail tenant"))
    elif choice < 0.5:
        out.append((f"{base} ({rng.choice(('Pax8', 'NinjaOne', 'Main Office', 'HQ'))})", "note"))
    elif choice < 0.75:
        out.append((_typo(rng, base.replace(" and ", " & ")).lower(), "typo and case"))
    else:
        out.append((f"{base}, {rng.choice(('Inc.', 'L.L.C.', 'Incorporated', 'Ltd'))}", "legal"))
    rng.shuffle(out)
    # Not every client gets every spelling: a vendor uses one or two of them.
    kept = out[: rng.choice((1, 2, 2, 3))]
    return [(v, why) for v, why in kept if v and v != name]


def _lookalikes(name: str, unserved: Sequence[str]) -> list[str]:
    """Unserved businesses with the same first word as `name` (another kind of business)."""
    first = name.split()[0]
    return [u for u in unserved if u.split()[0] == first and u != name]


def _stem_twins(name: str, served: Sequence[str]) -> list[str]:
    """Served businesses of the same kind whose first word looks alike (Northside/Southside)."""
    words = name.split()
    rest = " ".join(words[1:])
    return [
        s
        for s in served
        if s != name
        and " ".join(s.split()[1:]) == rest
        and s.split()[0][:4] == words[0][:4]
        and s.split()[0] != words[0]
    ]


def generate(seed: int = SEED) -> list[NamePair]:
    """The fixture: same inputs, same pairs, in the same order."""
    rng = random.Random(seed)
    served, unserved = _psa_names(rng)
    pairs: list[NamePair] = []
    for name in served:
        for vendor, why in _variants(rng, name):
            pairs.append(NamePair(vendor, name, True, why))
    for holding, trading in _DBA:
        pairs.append(NamePair(f"{holding} dba {trading}", trading, True, "DBA name"))
        pairs.append(NamePair(f"{trading} (d/b/a of {holding})", trading, True, "DBA note"))
    served_set = set(served)
    # Hard negatives: a business the MSP does not serve, spelled the way a vendor would,
    # against the served business it most looks like.
    for name in unserved:
        for other in sorted(s for s in served_set if s.split()[0] == name.split()[0])[:2]:
            vendor = _strip_legal(name) if rng.random() < 0.7 else name
            vendor = _typo(rng, vendor) if rng.random() < 0.2 else vendor
            pairs.append(NamePair(vendor, other, False, "same first word, other business"))
    for vendor, psa in _HARD_NEGATIVES:
        pairs.append(NamePair(vendor, psa, False, "written by hand"))
    for name in served:
        for twin in _stem_twins(name, served)[:1]:
            vendor = _strip_legal(name)
            pairs.append(NamePair(vendor, twin, False, "look-alike first word, same kind"))
    return pairs


def write(pairs: Sequence[NamePair], path: Path = FIXTURE) -> None:
    lines = [
        "# vendor name<TAB>PSA account name<TAB>same business (1/0)<TAB>how the vendor name "
        "was made. Generated by tests/unit/domain/name_pairs.py; do not edit by hand.",
        "vendor_name\tpsa_name\tis_match\tperturbation",
    ]
    lines += [f"{p.vendor_name}\t{p.psa_name}\t{int(p.is_match)}\t{p.perturbation}" for p in pairs]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def load(path: Path = FIXTURE) -> list[NamePair]:
    rows = [
        line.split("\t")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ][1:]
    return [NamePair(v, p, m == "1", why) for v, p, m, why in rows]


@dataclass(frozen=True, slots=True)
class Quality:
    """How the best suggestion per vendor name does at one threshold."""

    threshold: Decimal
    right: int
    wrong: int
    with_match: int
    vendor_names: int

    @property
    def precision(self) -> float:
        made = self.right + self.wrong
        return 1.0 if made == 0 else self.right / made

    @property
    def recall(self) -> float:
        return self.right / self.with_match

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def best_scores(pairs: Sequence[NamePair]) -> tuple[dict[str, tuple[str, Decimal]], list[Account]]:
    """Each vendor name's best suggestion (account name, score) among every PSA name."""
    psa_names = sorted({p.psa_name for p in pairs})
    accounts = [Account(f"PSA-{i}", name) for i, name in enumerate(psa_names)]
    vendor_names = sorted({p.vendor_name for p in pairs})
    refs = [VendorAccountRef("vendor", f"V{i:04d}", n) for i, n in enumerate(vendor_names)]
    names = {a.id: a.name for a in accounts}
    best: dict[str, tuple[str, Decimal]] = {}
    by_key = {r.vendor_account_id: r.name for r in refs}
    for s in suggest_account_mappings(refs, accounts, limit=1):
        best.setdefault(by_key[s.vendor_account_id], (names[s.account_id], s.score))
    return best, accounts


def measure(pairs: Sequence[NamePair], thresholds: Sequence[Decimal]) -> list[Quality]:
    """Precision and recall of "map to the best suggestion when its score ≥ threshold".

    A suggestion at or above the threshold is right when (vendor name, account) is a
    labelled match, and wrong otherwise (a hard negative, or another account). Recall is
    over the vendor names that have a match among the PSA names.
    """
    best, _ = best_scores(pairs)
    matches = {(p.vendor_name, p.psa_name) for p in pairs if p.is_match}
    with_match = {p.vendor_name for p in pairs if p.is_match}
    vendor_names = {p.vendor_name for p in pairs}
    out: list[Quality] = []
    for threshold in thresholds:
        right = wrong = 0
        for vendor in vendor_names:
            found = best.get(vendor)
            if found is None or found[1] < threshold:
                continue
            if (vendor, found[0]) in matches:
                right += 1
            else:
                wrong += 1
        out.append(Quality(threshold, right, wrong, len(with_match), len(vendor_names)))
    return out


def mistakes(pairs: Sequence[NamePair], threshold: Decimal) -> list[str]:
    """Every wrong strong suggestion and every missed match, to read when tuning."""
    best, _ = best_scores(pairs)
    truth = {p.vendor_name: p.psa_name for p in pairs if p.is_match}
    out = []
    for vendor in sorted({p.vendor_name for p in pairs}):
        account, score = best.get(vendor, ("-", Decimal(0)))
        right = truth.get(vendor)
        if score >= threshold and account != right:
            out.append(f"WRONG  {vendor!r} -> {account!r} {score} (truth {right!r})")
        elif right is not None and (score < threshold or account != right):
            out.append(f"MISSED {vendor!r} -> {account!r} {score} (truth {right!r})")
    return out


if __name__ == "__main__":
    write(generate())
    sys.stdout.write(f"wrote {FIXTURE.name}\n")
