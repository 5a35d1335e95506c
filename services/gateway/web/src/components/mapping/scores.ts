// Match scores and suggestions as the mapping tabs show them, without React.
import type { AccountMapping, ServiceMapping } from "../../types";

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

export function scoreText(score: string | number): string {
  return `${Math.round(percent(score))}%`;
}

/** A row waiting on the Accounts tab: a vendor account nobody mapped or excluded yet. */
export function accountWaits(m: AccountMapping): boolean {
  return m.status === "unmapped";
}

/** The minimum "Accept all" takes: what a person typed, else the tenant's threshold, so that
 * out of the box nothing below it is ever in the preview. */
export function acceptMinimum(typed: string | null, threshold: number): number | null {
  return minimumScore(typed ?? String(threshold));
}

export type SkuStatus = "unmapped" | "mapped" | "excluded";

/** A SKU has no status of its own in the answer: it is excluded, feeds a service line, or
 * waits for one. */
export function skuStatus(m: ServiceMapping): SkuStatus {
  return m.excluded ? "excluded" : m.service_line_id ? "mapped" : "unmapped";
}

/** A vendor account or SKU, and the suggestion "Accept all" maps it to. */
export type AcceptPair<R, S> = { mapping: R; suggestion: S };

/** "Accept all ≥ N%": the best suggestion of each row still waiting, when it scores N or
 * more. Only the best: the second of two look-alikes is never taken for you. */
export function acceptablePairs<R extends { suggestions?: { score: string | number }[] }>(
  rows: R[],
  minimum: number | null,
  waits: (row: R) => boolean,
): AcceptPair<R, NonNullable<R["suggestions"]>[number]>[] {
  if (minimum === null) return [];
  return rows.flatMap((m) => {
    const best = m.suggestions?.[0];
    return waits(m) && best && percent(best.score) >= minimum ? [{ mapping: m, suggestion: best }] : [];
  });
}

/** "1 vendor account", "3 SKUs". */
export function counted(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "vendor SKU" → "Vendor SKU": a heading from the words a sentence uses. */
export function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
