import { describe, expect, it } from "vitest";
import type { BillingSettings } from "../../types";
import { settingsToSave, thresholdInput } from "./billing";

const answer = {
  cycle_start_day: 1,
  proration_convention: "actual_days",
  rounding: "half_up",
  suggestion_threshold: "95",
  auto_apply_threshold: null,
  auto_map_threshold: "95",
  rules: [],
} as BillingSettings;

describe("settingsToSave", () => {
  it("leaves out the deprecated threshold an answer carries, so a changed one is not refused", () => {
    const body = settingsToSave({ ...answer, suggestion_threshold: "80" });
    expect(body).not.toHaveProperty("auto_map_threshold");
    expect(body.suggestion_threshold).toBe("80");
    expect(body.auto_apply_threshold).toBeNull();
    expect(body.cycle_start_day).toBe(1);
  });
});

describe("thresholdInput", () => {
  it("reads an empty field as no threshold of the tenant's own", () => {
    expect(thresholdInput("")).toBeNull();
    expect(thresholdInput("  ")).toBeNull();
    expect(thresholdInput(" 97 ")).toBe("97");
  });
});
