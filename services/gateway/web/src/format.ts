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

/** Money added up per currency: cards of one tenant may bill in several. */
export function moneyByCurrency<T extends { currency?: string | null }>(
  items: T[],
  value: (item: T) => string | number | null | undefined,
): string {
  const sums = new Map<string, number>();
  for (const item of items) {
    const currency = item.currency || "USD";
    sums.set(currency, (sums.get(currency) ?? 0) + num(value(item)));
  }
  if (sums.size === 0) return money(0, "USD", true);
  // Currencies whose changes cancel out add nothing but width.
  const nonZero = [...sums.entries()].filter(([, total]) => Math.abs(total) >= 0.005);
  if (nonZero.length === 0) return money(0, [...sums.keys()][0], true);
  if (nonZero.length === 1) {
    const [currency, total] = nonZero[0] as [string, number];
    return money(total, currency, true);
  }
  return nonZero
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([currency, total]) => money(total, currency, true) + (sums.size > 1 ? ` ${currency}` : ""))
    .join(" · ");
}
