// The billing settings form's data, without React.
import type { BillingSettings } from "../../types";

/** Answers also carry the mapping threshold's name before it was split in two
 * (`auto_map_threshold`, the same value as `suggestion_threshold`). Sent back beside a
 * changed `suggestion_threshold`, the server could not tell which was meant and would
 * refuse the save: what a save sends leaves it out. */
export function settingsToSave(draft: BillingSettings): BillingSettings {
  const { auto_map_threshold: _deprecated, ...body } = draft as BillingSettings & { auto_map_threshold?: unknown };
  return body;
}

/** A threshold as typed: null when empty (the server's default applies). */
export function thresholdInput(text: string): string | null {
  const trimmed = text.trim();
  return trimmed === "" ? null : trimmed;
}
