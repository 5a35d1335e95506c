import { describe, expect, it } from "vitest";
import {
  addDecimals,
  ago,
  day,
  money,
  moneyByCurrency,
  moneyList,
  moneyParts,
  num,
  perPeriod,
  qty,
  quantityTotal,
  shownAmounts,
  sumByCurrency,
  titleCase,
  tone,
  toneOf,
  vendorsOf,
} from "./format";

describe("money", () => {
  it("writes each currency with its own symbol and two decimals", () => {
    expect(money("1234.5")).toBe("$1,234.50");
    expect(money("1234.5", "EUR")).toBe("€1,234.50");
    expect(money("945", "CAD")).toBe("CA$945.00");
    expect(money("12.3456", "AUD")).toBe("A$12.35");
    expect(money(3, "GBP")).toBe("£3.00");
    // Two decimals even where the currency has none: the API's amounts carry cents.
    expect(money("1000", "JPY")).toBe("¥1,000.00");
  });

  it("shows negative amounts with a minus, signed or not", () => {
    expect(money("-1234.5")).toBe("-$1,234.50");
    expect(money("-3", "GBP", true)).toBe("-£3.00");
  });

  it("gives increases a plus only when signed", () => {
    expect(money("1234.5", "EUR", true)).toBe("+€1,234.50");
    expect(money("1234.5", "EUR", false)).toBe("€1,234.50");
  });

  it("shows zero without a sign, including an amount that rounds to zero", () => {
    expect(money("0")).toBe("$0.00");
    expect(money(0, "USD", true)).toBe("$0.00");
    expect(money("-0.004", "USD", true)).toBe("$0.00");
  });

  it("rounds half away from zero on the decimal as written", () => {
    expect(money("2.005")).toBe("$2.01");
    expect(money("1.005")).toBe("$1.01");
    expect(money("0.125")).toBe("$0.13");
    expect(money("-0.125")).toBe("-$0.13");
    expect(money("2.004")).toBe("$2.00");
  });

  it("shows a dash for a missing amount and zero for one it cannot read", () => {
    expect(money(null)).toBe("—");
    expect(money(undefined, "EUR")).toBe("—");
    expect(money("")).toBe("—");
    expect(money("abc")).toBe("$0.00");
  });

  it("keeps signed and unsigned formats of one currency apart", () => {
    // The formats are cached per currency and sign: asking for one must not change the other.
    expect(money("5", "GBP", true)).toBe("+£5.00");
    expect(money("5", "GBP")).toBe("£5.00");
    expect(money("5", "GBP", true)).toBe("+£5.00");
  });
});

describe("num, qty and tone", () => {
  it("reads decimal strings and treats what is not a number as zero", () => {
    expect(num("12.5")).toBe(12.5);
    expect(num(7)).toBe(7);
    expect(num(null)).toBe(0);
    expect(num("")).toBe(0);
    expect(num("n/a")).toBe(0);
  });

  it("shows quantities with up to four decimals and a sign when asked", () => {
    expect(qty("1234.56789")).toBe("1,234.5679");
    expect(qty("20")).toBe("20");
    expect(qty("2", true)).toBe("+2");
    expect(qty("-2", true)).toBe("-2");
    expect(qty("0", true)).toBe("0");
    expect(qty(null)).toBe("—");
  });

  it("says which way a change goes", () => {
    expect(tone("0.01")).toBe("up");
    expect(tone("-3")).toBe("down");
    expect(tone("0")).toBe("flat");
    expect(tone(null)).toBe("flat");
  });
});

describe("addDecimals", () => {
  it("adds exactly, where floating point would not", () => {
    expect(0.1 + 0.2).not.toBe(0.3);
    expect(addDecimals(["0.1", "0.2"])).toBe("0.300000");
    expect(addDecimals(["1200.10", "-200.05", "0.000001"])).toBe("1000.050001");
  });

  it("takes numbers, signs, blanks and exponents", () => {
    expect(addDecimals([1.5, "+2", null, undefined, ""])).toBe("3.500000");
    expect(addDecimals(["-5", "2.25"])).toBe("-2.750000");
    expect(addDecimals(["1e3", "2.5E-1"])).toBe("1000.250000");
    expect(addDecimals([])).toBe("0.000000");
  });

  it("keeps millionths and drops what is finer", () => {
    expect(addDecimals(["0.0000019", "0.0000011"])).toBe("0.000002");
  });
});

describe("totals per currency", () => {
  const cards = [
    { currency: "USD", mrr: "100.10" },
    { currency: "CAD", mrr: "45.00" },
    { currency: "USD", mrr: "0.20" },
    { currency: null, mrr: "-0.30" },
    { currency: "CAD", mrr: "900" },
  ];

  it("adds each currency on its own, exactly; a card without one counts as USD", () => {
    expect(sumByCurrency(cards, (c) => c.mrr)).toEqual([
      { currency: "USD", amount: "100.000000", cards: 3 },
      { currency: "CAD", amount: "945.000000", cards: 2 },
    ]);
  });

  it("never adds two currencies: one figure each, the currency of most cards first", () => {
    expect(moneyByCurrency(cards, (c) => c.mrr)).toBe("+$100.00 · +CA$945.00");
    expect(moneyList([{ currency: "CAD", amount: "945", cards: 5 }, { currency: "USD", amount: "1200", cards: 2 }])).toBe(
      "+CA$945.00 · +$1,200.00",
    );
  });

  it("orders currencies with as many cards by code", () => {
    expect(moneyParts([{ currency: "USD", amount: "1" }, { currency: "EUR", amount: "-2" }], false)).toEqual(["-€2.00", "$1.00"]);
  });

  it("leaves out currencies whose amount is zero, unless all are", () => {
    const rows = [
      { currency: "USD", amount: "0", cards: 9 },
      { currency: "GBP", amount: "-12.5", cards: 1 },
    ];
    expect(moneyList(rows)).toBe("-£12.50");
    expect(shownAmounts(rows)).toEqual([{ currency: "GBP", amount: "-12.5", cards: 1 }]);
    expect(moneyList([{ currency: "EUR", amount: "0.000", cards: 1 }, { currency: "USD", amount: "0", cards: 3 }])).toBe("$0.00");
    expect(moneyList([])).toBe("$0.00");
  });

  it("says whether every currency goes the same way", () => {
    expect(toneOf([{ currency: "USD", amount: "5" }, { currency: "EUR", amount: "1" }])).toBe("up");
    expect(toneOf([{ currency: "USD", amount: "-5" }, { currency: "EUR", amount: "0" }])).toBe("down");
    expect(toneOf([{ currency: "USD", amount: "-5" }, { currency: "EUR", amount: "1" }])).toBe("flat");
    expect(toneOf([])).toBe("flat");
  });
});

describe("perPeriod", () => {
  it("names the contract's billing period; a card without one is monthly (MRR)", () => {
    expect(perPeriod("monthly")).toBe("per month");
    expect(perPeriod("quarterly")).toBe("per quarter");
    expect(perPeriod("semi_annual")).toBe("per half-year");
    expect(perPeriod("annual")).toBe("per year");
    expect(perPeriod(null)).toBe("per month");
    expect(perPeriod(undefined)).toBe("per month");
  });

  it("spells out a cycle it does not know", () => {
    expect(perPeriod("two_year")).toBe("per two year");
  });
});

describe("quantityTotal", () => {
  it("adds quantities of one service line exactly", () => {
    const items = [
      { service_line_id: "m365", sales_unit: "seat", q: "10.5" },
      { service_line_id: "m365", sales_unit: "seat", q: "2.25" },
    ];
    expect(quantityTotal(items, (i) => i.q)).toBe("12.750000");
  });

  it("refuses to add seats and agents, or cards of no service line", () => {
    expect(
      quantityTotal(
        [
          { service_line_id: "m365", sales_unit: "seat", q: "5" },
          { service_line_id: "edr", sales_unit: "agent", q: "3" },
        ],
        (i) => i.q,
      ),
    ).toBeNull();
    expect(quantityTotal([{ service_line_id: null, sales_unit: null, q: "5" }], (i) => i.q)).toBeNull();
    expect(quantityTotal([], () => "1")).toBeNull();
  });
});

describe("words and dates", () => {
  it("title-cases API names and keeps acronyms", () => {
    expect(titleCase("new_revenue")).toBe("New revenue");
    expect(titleCase("psa_sync")).toBe("PSA sync");
    expect(titleCase("mrr_change")).toBe("MRR change");
  });

  it("lists a card's vendors, old single-vendor answers too", () => {
    expect(vendorsOf({ vendors: ["pax8", "microsoft"], vendor: "pax8" })).toEqual(["pax8", "microsoft"]);
    expect(vendorsOf({ vendors: [], vendor: "datto" })).toEqual(["datto"]);
    expect(vendorsOf({})).toEqual([]);
  });

  it("says how long ago, relative to now", () => {
    const now = Date.parse("2026-12-05T12:00:00Z");
    expect(ago("2026-12-05T11:59:30Z", now)).toBe("just now");
    expect(ago("2026-12-05T11:55:00Z", now)).toBe("5 minutes ago");
    expect(ago("2026-12-04T12:00:00Z", now)).toBe("yesterday");
    expect(ago(null, now)).toBe("never");
    expect(ago("not a date", now)).toBe("—");
  });

  it("shows a date as the day it names, whatever the time zone", () => {
    expect(day("2026-12-05")).toBe("5 Dec 2026");
    expect(day(null)).toBe("—");
    expect(day("soon")).toBe("soon");
  });
});
