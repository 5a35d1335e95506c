import { describe, expect, it } from "vitest";
import {
  addDays,
  addRequest,
  approvalRequest,
  changeRequest,
  draftInvalid,
  isDecimal,
  nextProratedStep,
  stepsText,
  type ChangeDraft,
} from "./changeRequest";

const draft = (patch: Partial<ChangeDraft> = {}): ChangeDraft => ({ quantity: "25", price: "", cost: "", prorated: [], ...patch });

describe("isDecimal", () => {
  it("takes plain non-negative decimals only", () => {
    for (const ok of ["0", "25", "12.5", "0.0001"]) expect(isDecimal(ok), ok).toBe(true);
    for (const bad of ["", "-1", "+1", "1.", ".5", "1,5", "1e3", " 1", "abc"]) expect(isDecimal(bad), bad).toBe(false);
  });
});

describe("draftInvalid", () => {
  it("accepts a quantity alone", () => {
    expect(draftInvalid(draft(), false)).toBe(false);
  });

  it("refuses a quantity that is not a decimal", () => {
    expect(draftInvalid(draft({ quantity: "" }), false)).toBe(true);
    expect(draftInvalid(draft({ quantity: "-3" }), false)).toBe(true);
    expect(draftInvalid(draft({ quantity: "3 seats" }), true)).toBe(true);
  });

  it("checks price and cost only when adding a line item, and lets them be empty", () => {
    expect(draftInvalid(draft({ price: "abc" }), false)).toBe(false);
    expect(draftInvalid(draft({ price: "abc" }), true)).toBe(true);
    expect(draftInvalid(draft({ cost: "1,50" }), true)).toBe(true);
    expect(draftInvalid(draft({ price: "12.00", cost: "" }), true)).toBe(false);
  });

  it("refuses a prorated step without a date or with a bad quantity", () => {
    expect(draftInvalid(draft({ prorated: [{ effective_date: "2026-12-10", quantity: "30" }] }), false)).toBe(false);
    expect(draftInvalid(draft({ prorated: [{ effective_date: "", quantity: "30" }] }), false)).toBe(true);
    expect(
      draftInvalid(
        draft({
          prorated: [
            { effective_date: "2026-12-10", quantity: "30" },
            { effective_date: "2026-12-17", quantity: "" },
          ],
        }),
        false,
      ),
    ).toBe(true);
  });
});

describe("what the editor sends", () => {
  it("sends prorated steps only when there are some, in the order they were entered", () => {
    expect(changeRequest("25", "2026-12-01", [])).toEqual({ quantity: "25", effective_date: "2026-12-01" });
    const steps = [
      { effective_date: "2026-12-08", quantity: "30" },
      { effective_date: "2026-12-15", quantity: "32" },
    ];
    expect(changeRequest("25", "2026-12-01", steps)).toEqual({ quantity: "25", effective_date: "2026-12-01", prorated_changes: steps });
  });

  it("confirms an approval only when the preview named a large change", () => {
    const body = changeRequest("250", "2026-12-01", []);
    expect(approvalRequest(body, null)).toEqual({ quantity: "250", effective_date: "2026-12-01" });
    expect(approvalRequest(body, "more than 100 units")).toEqual({ quantity: "250", effective_date: "2026-12-01", confirm: true });
    expect(body).not.toHaveProperty("confirm");
  });

  it("adds a line item with the contract's price and cost unless typed", () => {
    const base = { contractId: "c-1", quantity: "4", price: "", cost: "", effective: "2026-12-05", prorate: true };
    expect(addRequest(base, null)).toEqual({ contract_id: "c-1", quantity: "4", effective_date: "2026-12-05", prorate: true });
    expect(addRequest({ ...base, price: "12.50", cost: "8", prorate: false }, "more than $5,000.00 per period")).toEqual({
      contract_id: "c-1",
      quantity: "4",
      unit_price: "12.50",
      unit_cost: "8",
      effective_date: "2026-12-05",
      prorate: false,
      confirm: true,
    });
  });
});

describe("prorated steps", () => {
  it("puts the first step a week after the change's date, at the new quantity", () => {
    expect(nextProratedStep([], "2026-12-01", "25")).toEqual({ effective_date: "2026-12-08", quantity: "25" });
  });

  it("puts each next step a week after the last one, at its quantity, so no two share a date", () => {
    const steps = [{ effective_date: "2026-12-08", quantity: "25" }];
    const second = nextProratedStep(steps, "2026-12-01", "25");
    expect(second).toEqual({ effective_date: "2026-12-15", quantity: "25" });
    const edited = [steps[0]!, { ...second, quantity: "40" }];
    expect(nextProratedStep(edited, "2026-12-01", "25")).toEqual({ effective_date: "2026-12-22", quantity: "40" });
  });

  it("counts days in UTC across months, years and leap days", () => {
    expect(addDays("2026-12-28", 7)).toBe("2027-01-04");
    expect(addDays("2028-02-25", 7)).toBe("2028-03-03");
    expect(addDays("2027-02-25", 7)).toBe("2027-03-04");
    expect(addDays("2026-03-27", 7)).toBe("2026-04-03");
  });

  it("leaves a date it cannot read as it is", () => {
    expect(addDays("", 7)).toBe("");
    expect(addDays("tomorrow", 7)).toBe("tomorrow");
  });
});

describe("stepsText", () => {
  it("lists every quantity the PSA passes through, in the preview's order", () => {
    expect(stepsText("20", [{ quantity_after: "45" }, { quantity_after: "48" }, { quantity_after: "50" }], "50")).toBe("20 → 45 → 48 → 50");
  });

  it("falls back to the typed quantity before the preview has steps", () => {
    expect(stepsText("20", undefined, "1250")).toBe("20 → 1,250");
    expect(stepsText("20", [], "18.5")).toBe("20 → 18.5");
    expect(stepsText(null, undefined, "3")).toBe("— → 3");
  });
});
