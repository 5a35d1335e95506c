import { describe, expect, it } from "vitest";
import type { AccountMapping, ServiceLineSuggestion, ServiceMapping, Suggestion } from "../../types";
import {
  acceptMinimum,
  acceptablePairs,
  accountWaits,
  capitalised,
  counted,
  minimumScore,
  percent,
  preselected,
  scoreClass,
  scoreText,
  skuStatus,
  thresholdOf,
} from "./scores";

const suggestion = (account_id: string, score: string | number, preselect = false): Suggestion => ({
  account_id,
  account_name: account_id.toUpperCase(),
  score,
  reason: "name",
  preselect,
});

const row = (vendor_account_id: string, status: string, suggestions: Suggestion[]): AccountMapping => ({
  vendor: "pax8",
  vendor_account_id,
  vendor_account_name: vendor_account_id,
  account_id: null,
  account_name: null,
  status,
  automatic: false,
  usage_count: 1,
  suggestions,
});

describe("scores", () => {
  it("reads scores of 0 to 100, and the older 0 to 1", () => {
    expect(percent("87.5")).toBe(87.5);
    expect(percent(0.9)).toBe(90);
    expect(scoreText("0.955")).toBe("96%");
    expect(scoreText("72.4")).toBe("72%");
  });

  it("colours a score against the tenant's threshold", () => {
    expect(scoreClass("96")).toBe("score-high");
    expect(scoreClass("94")).toBe("score-mid");
    expect(scoreClass("94", 90)).toBe("score-high");
    expect(scoreClass("69.9")).toBe("score-low");
  });

  it("takes the server's threshold, or 95 when an older server sends none", () => {
    expect(thresholdOf({ threshold: "80" })).toBe(80);
    expect(thresholdOf({ threshold: null })).toBe(95);
    expect(thresholdOf({ threshold: "soon" })).toBe(95);
    expect(thresholdOf([])).toBe(95);
    expect(thresholdOf(undefined)).toBe(95);
  });

  it("pre-selects only the best suggestion, and only when the server says so", () => {
    expect(preselected([suggestion("a", 97, true), suggestion("b", 60)])?.account_id).toBe("a");
    expect(preselected([suggestion("a", 80), suggestion("b", 99, true)])).toBeUndefined();
    expect(preselected(undefined)).toBeUndefined();
  });

  it("reads a minimum score a person typed", () => {
    expect(minimumScore("95")).toBe(95);
    expect(minimumScore(" 87.5 ")).toBe(87.5);
    expect(minimumScore("0")).toBe(0);
    expect(minimumScore("101")).toBeNull();
    expect(minimumScore("-5")).toBeNull();
    expect(minimumScore("")).toBeNull();
    expect(minimumScore("9x")).toBeNull();
  });
});

describe("acceptablePairs", () => {
  const rows = [
    row("acme", "unmapped", [suggestion("acme-psa", 98), suggestion("other", 99)]),
    row("beta", "unmapped", [suggestion("beta-psa", 80)]),
    row("gone", "mapped", [suggestion("gone-psa", 100)]),
    row("none", "unmapped", []),
  ];

  it("pairs each unmapped row with its best suggestion from the minimum up", () => {
    expect(acceptablePairs(rows, 90, accountWaits).map((p) => [p.mapping.vendor_account_id, p.suggestion.account_id])).toEqual([
      ["acme", "acme-psa"],
    ]);
    expect(acceptablePairs(rows, 80, accountWaits).map((p) => p.mapping.vendor_account_id)).toEqual(["acme", "beta"]);
  });

  it("offers nothing for a minimum that is not one", () => {
    expect(acceptablePairs(rows, null, accountWaits)).toEqual([]);
  });

  it("starts at the tenant's threshold, so nothing below it is offered until a person lowers it", () => {
    const close = [row("near", "unmapped", [suggestion("near-psa", "94.9")]), row("sure", "unmapped", [suggestion("sure-psa", "95")])];
    expect(acceptMinimum(null, 95)).toBe(95);
    expect(acceptablePairs(close, acceptMinimum(null, 95), accountWaits).map((p) => p.mapping.vendor_account_id)).toEqual(["sure"]);
    expect(acceptablePairs(close, acceptMinimum("90", 95), accountWaits)).toHaveLength(2);
    expect(acceptMinimum("", 95)).toBeNull();
  });
});

const line = (service_line_id: string, score: string | number, preselect = false): ServiceLineSuggestion => ({
  service_line_id,
  service_line: `Line ${service_line_id}`,
  score,
  reason: "sku code",
  preselect,
});

const sku = (code: string, patch: Partial<ServiceMapping>, suggestions: ServiceLineSuggestion[] = []): ServiceMapping => ({
  vendor: "pax8",
  sku: code,
  sku_name: code,
  service_line_id: null,
  service_line: null,
  factor: "1",
  rounding: "up",
  excluded: false,
  usage_count: 1,
  suggestions,
  ...patch,
});

describe("SKUs", () => {
  const skus = [
    sku("MST-365-BP-M", {}, [line("3300", "98.5", true), line("3301", 99)]),
    sku("huntress-sat-learner", {}, [line("3314", "76.9")]),
    sku("ACR-CPC-WS", {}, []),
    sku("MST-EXO-P1-M", { service_line_id: "3304", service_line: "Exchange Online (Plan 1)" }, [line("3304", 100)]),
    sku("MST-MDB-M", { excluded: true }, [line("3305", 100)]),
  ];

  it("tells unmapped, mapped and excluded SKUs apart", () => {
    expect(skus.map(skuStatus)).toEqual(["unmapped", "unmapped", "unmapped", "mapped", "excluded"]);
  });

  it("accepts the best service line of each unmapped SKU at or above the minimum, and nothing else", () => {
    const waits = (m: ServiceMapping) => skuStatus(m) === "unmapped";
    const pairs = acceptablePairs(skus, acceptMinimum(null, 95), waits);
    expect(pairs.map((p) => [p.mapping.sku, p.suggestion.service_line_id])).toEqual([["MST-365-BP-M", "3300"]]);
    expect(acceptablePairs(skus, 70, waits).map((p) => p.mapping.sku)).toEqual(["MST-365-BP-M", "huntress-sat-learner"]);
    expect(acceptablePairs(skus, 0, waits).map((p) => p.mapping.sku)).not.toContain("ACR-CPC-WS");
  });

  it("pre-selects a service line only when the server says so", () => {
    expect(preselected(skus[0]?.suggestions)?.service_line_id).toBe("3300");
    expect(preselected(skus[1]?.suggestions)).toBeUndefined();
    expect(preselected(skus[2]?.suggestions)).toBeUndefined();
  });
});

describe("words", () => {
  it("counts and capitalises what the preview names", () => {
    expect(counted(1, "vendor SKU", "vendor SKUs")).toBe("1 vendor SKU");
    expect(counted(3, "vendor SKU", "vendor SKUs")).toBe("3 vendor SKUs");
    expect(capitalised("vendor SKU")).toBe("Vendor SKU");
    expect(capitalised("PSA account")).toBe("PSA account");
  });
});
