// Match scores and suggestions as the mapping tabs show them, without React.
import type { AccountMapping, Suggestion } from "../../types";

export function keyOf(m: { vendor: string; vendor_account_id: string }): string {
  return `${m.vendor}\u0000${m.vendor_account_id}`;
}

/** Scores are 0 to 100; older answers gave 0 to 1. */
export function percent(score: string | number): number {
  const n = Number(score);
  return n <= 1 ? n * 100 : n;
}

/** The server's threshold when the tenant has set none (docs/api.md); only used when an
 * older server does not send its own. */
export const DEFAULT_THRESHOLD = 95;

export function scoreClass(score: string | number, threshold = DEFAULT_THRESHOLD): string {
  const s = percent(score);
  return s >= threshold ? "score-high" : s >= 70 ? "score-mid" : "score-low";
}

export function thresholdOf(answer: { threshold?: string | number | null } | unknown[] | undefined): number {
  if (!answer || Array.isArray(answer) || answer.threshold == null) return DEFAULT_THRESHOLD;
  const n = Number(answer.threshold);
  return Number.isFinite(n) ? n : DEFAULT_THRESHOLD;
}

/** The suggestion that may fill the choice in: the best one, and only when the server says
 * it is at or above the tenant's threshold. A look-alike ("Ironwood Legal" for "Ironwood
 * Dental Co.") is shown, but the choice stays empty until a person picks it. */
export function preselected<T extends { preselect?: boolean }>(suggestions: T[] | undefined): T | undefined {
  const best = suggestions?.[0];
  return best?.preselect ? best : undefined;
}

/** "95", "95.5": a minimum score a person typed, or null when it is not one. */
export function minimumScore(text: string): number | null {
  if (!/^\d{1,3}(\.\d+)?$/.test(text.trim())) return null;
  const n = Number(text);
  return n >= 0 && n <= 100 ? n : null;
}

export type AcceptPair = { mapping: AccountMapping; suggestion: Suggestion };

export function scoreText(score: string | number): string {
  return `${Math.round(percent(score))}%`;
}

/** "Accept all ≥ N%": the best suggestion of each unmapped row, when it scores N or more. */
export function acceptablePairs(rows: AccountMapping[], minimum: number | null): AcceptPair[] {
  if (minimum === null) return [];
  return rows.flatMap((m) => {
    const best = m.suggestions[0];
    return m.status === "unmapped" && best && percent(best.score) >= minimum ? [{ mapping: m, suggestion: best }] : [];
  });
}
