// Formatting of the API's decimal strings and timestamps for people.

export function num(value: string | number | null | undefined): number {
  if (value === null || value === undefined || value === "") return 0;
  const n = typeof value === "number" ? value : Number(value);
  return Number.isFinite(n) ? n : 0;
}

const moneyFormats = new Map<string, Intl.NumberFormat>();

export function money(value: string | number | null | undefined, currency = "USD", signed = false): string {
  if (value === null || value === undefined || value === "") return "—";
  let format = moneyFormats.get(currency + signed);
  if (!format) {
    format = new Intl.NumberFormat("en-US", {
      style: "currency",
      currency,
      signDisplay: signed ? "exceptZero" : "auto",
      minimumFractionDigits: 2,
      maximumFractionDigits: 2,
    });
    moneyFormats.set(currency + signed, format);
  }
  return format.format(num(value));
}

const qtyFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 4 });
const signedQty = new Intl.NumberFormat("en-US", { maximumFractionDigits: 4, signDisplay: "exceptZero" });

export function qty(value: string | number | null | undefined, signed = false): string {
  if (value === null || value === undefined || value === "") return "—";
  return (signed ? signedQty : qtyFormat).format(num(value));
}

export function tone(value: string | number | null | undefined): "up" | "down" | "flat" {
  const n = num(value);
  return n > 0 ? "up" : n < 0 ? "down" : "flat";
}

const rtf = new Intl.RelativeTimeFormat("en", { numeric: "auto" });

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "—";
  const seconds = Math.round((then - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 45) return "just now";
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), "hour");
  return rtf.format(Math.round(seconds / 86400), "day");
}

const dateTime = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeZone: "UTC" });

export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : dateTime.format(t);
}

export function day(iso: string | null | undefined): string {
  if (!iso) return "—";
  const t = Date.parse(iso.length === 10 ? `${iso}T00:00:00Z` : iso);
  return Number.isNaN(t) ? iso : dateOnly.format(t);
}

export function todayIso(): string {
  return new Date().toISOString().slice(0, 10);
}

export function vendorsOf(card: { vendors?: string[]; vendor?: string }): string[] {
  if (card.vendors && card.vendors.length) return card.vendors;
  return card.vendor ? [card.vendor] : [];
}

const WORDS: Record<string, string> = { psa: "PSA", csv: "CSV", api: "API", mrr: "MRR", sku: "SKU" };

export function titleCase(text: string): string {
  return text
    .split("_")
    .map((word, index) => WORDS[word] ?? (index === 0 ? word.charAt(0).toUpperCase() + word.slice(1) : word))
    .join(" ");
}

// Money is added up exactly, in millionths (the scale the server stores), never as
// floating-point numbers: a total must equal the sum of the figures it is shown beside.
const SCALE = 6;
const UNIT = 10n ** BigInt(SCALE);

function scaled(value: string | number | null | undefined): bigint {
  if (value === null || value === undefined || value === "") return 0n;
  let text = typeof value === "number" ? value.toFixed(SCALE) : value.trim();
  if (/e/i.test(text)) text = Number(text).toFixed(SCALE);
  const match = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text);
  if (!match) return 0n;
  const [, sign, whole = "", fraction = ""] = match;
  const digits = BigInt((whole || "0") + fraction.padEnd(SCALE, "0").slice(0, SCALE));
  return sign === "-" ? -digits : digits;
}

function unscaled(value: bigint): string {
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const fraction = (abs % UNIT).toString().padStart(SCALE, "0");
  return `${negative ? "-" : ""}${abs / UNIT}.${fraction}`;
}

/** The exact sum of decimal strings, as a decimal string. */
export function addDecimals(values: Iterable<string | number | null | undefined>): string {
  let total = 0n;
  for (const value of values) total += scaled(value);
  return unscaled(total);
}

/** An amount in one currency, as the API's per-currency totals carry it. */
export interface CurrencyAmount {
  currency: string;
  amount: string | number | null | undefined;
  /** Cards behind the amount: the currency most cards bill in is shown first. */
  cards?: number;
}

/**
 * One figure per currency, e.g. "+$1,200.00 · +CA$945.00": amounts of two currencies are
 * never added. The currency of most cards comes first (the tenant's own, usually), then by
 * code; currencies whose change is zero are left out unless all of them are.
 */
export function moneyList(rows: CurrencyAmount[], signed = true): string {
  return moneyParts(rows, signed).join(" · ");
}

/** The figures of `moneyList`, one string per currency, for layouts that stack them. */
export function moneyParts(rows: CurrencyAmount[], signed = true): string[] {
  if (rows.length === 0) return [money(0, "USD", signed)];
  return shownAmounts(rows).map((row) => money(row.amount, row.currency, signed));
}

/** The amounts `moneyParts` shows, in its order: how many lines a stacked total takes. */
export function shownAmounts(rows: CurrencyAmount[]): CurrencyAmount[] {
  const sorted = [...rows].sort((a, b) => (b.cards ?? 0) - (a.cards ?? 0) || a.currency.localeCompare(b.currency));
  const nonZero = sorted.filter((row) => scaled(row.amount) !== 0n);
  return nonZero.length ? nonZero : sorted.slice(0, 1);
}

/** Whether per-currency amounts all go up, all go down, or neither. */
export function toneOf(rows: CurrencyAmount[]): "up" | "down" | "flat" {
  const signs = new Set(rows.map((row) => tone(row.amount)).filter((t) => t !== "flat"));
  return signs.size === 1 ? ([...signs][0] as "up" | "down") : "flat";
}

/** Cards' amounts added up per currency (exactly), one row per currency. */
export function sumByCurrency<T extends { currency?: string | null }>(
  items: T[],
  value: (item: T) => string | number | null | undefined,
): CurrencyAmount[] {
  const sums = new Map<string, { total: bigint; cards: number }>();
  for (const item of items) {
    const currency = item.currency || "USD";
    const sum = sums.get(currency) ?? { total: 0n, cards: 0 };
    sums.set(currency, { total: sum.total + scaled(value(item)), cards: sum.cards + 1 });
  }
  return [...sums.entries()].map(([currency, { total, cards }]) => ({ currency, amount: unscaled(total), cards }));
}

/** Money added up per currency: cards of one tenant may bill in several. */
export function moneyByCurrency<T extends { currency?: string | null }>(
  items: T[],
  value: (item: T) => string | number | null | undefined,
): string {
  return moneyList(sumByCurrency(items, value));
}

const PERIODS: Record<string, string> = {
  monthly: "per month",
  quarterly: "per quarter",
  semi_annual: "per half-year",
  annual: "per year",
};

/** "per quarter" for a quarterly contract: what a card's per-period figures are per. */
export function perPeriod(billingCycle: string | null | undefined): string {
  return PERIODS[billingCycle ?? "monthly"] ?? `per ${titleCase(billingCycle ?? "period").toLowerCase()}`;
}

/**
 * A total of quantities, only when every card counts the same thing (one service line and
 * so one sales unit): 5 seats and 3 agents add up to nothing. Null otherwise.
 */
export function quantityTotal<T extends { service_line_id?: string | null; sales_unit?: string | null }>(
  items: T[],
  value: (item: T) => string | number | null | undefined,
): string | null {
  const lines = new Set(items.map((item) => `${item.service_line_id ?? ""}\u0000${item.sales_unit ?? ""}`));
  if (lines.size !== 1 || !items[0]?.service_line_id) return null;
  return addDecimals(items.map(value));
}
