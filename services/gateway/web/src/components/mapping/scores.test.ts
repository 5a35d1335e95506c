import { describe, expect, it } from "vitest";
import type { AccountMapping, Suggestion } from "../../types";
import { acceptablePairs, minimumScore, percent, preselected, scoreClass, scoreText, thresholdOf } from "./scores";

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
    expect(acceptablePairs(rows, 90).map((p) => [p.mapping.vendor_account_id, p.suggestion.account_id])).toEqual([["acme", "acme-psa"]]);
    expect(acceptablePairs(rows, 80).map((p) => p.mapping.vendor_account_id)).toEqual(["acme", "beta"]);
  });

  it("offers nothing for a minimum that is not one", () => {
    expect(acceptablePairs(rows, null)).toEqual([]);
  });
});
