// The column step's logic, without React: what a mapping still lacks, what is sent, and
// what it makes of the preview rows before the server reads the whole file.
import type { ColumnMapping, Detection, ImportInspection, QuantityMode, RowFilter } from "../../types";

/** The reading settings a person may correct before mapping. */
export type Settings = Pick<Detection, "encoding" | "delimiter" | "header_row" | "decimal_separator" | "thousands_separator">;

export const EMPTY_MAPPING: ColumnMapping = { account_column: "", quantity_mode: "column_value", filters: [] };

export const MODES: { value: QuantityMode; label: string; hint: string }[] = [
  { value: "column_value", label: "A column's value", hint: "One row per account and SKU holds the count" },
  { value: "sum_per_sku", label: "Sum per SKU", hint: "Several rows per account and SKU add up (invoice lines)" },
  { value: "row_count", label: "Count of rows", hint: "Each row is one unit: a device, a user, an agent" },
  { value: "distinct_count", label: "Count of distinct values", hint: "Distinct users, hostnames…" },
];

export function mappingProblems(m: ColumnMapping): string[] {
  const problems: string[] = [];
  if (!m.account_column) problems.push("Choose the account column.");
  if (!m.sku_column && !m.sku_constant) problems.push("Choose the SKU column, or name the single product this file counts.");
  if ((m.quantity_mode === "column_value" || m.quantity_mode === "sum_per_sku") && !m.quantity_column)
    problems.push("Choose the quantity column.");
  if (m.quantity_mode === "distinct_count" && !m.distinct_column) problems.push("Choose the column whose distinct values are counted.");
  return problems;
}

/** The role each mapped column plays, as the preview's headers name it. */
export function columnRoles(m: ColumnMapping): Record<string, string> {
  const roles: Record<string, string> = {};
  const mark = (column: string | null | undefined, role: string) => {
    if (column) roles[column] = role;
  };
  mark(m.account_column, "account");
  mark(m.account_id_column, "account id");
  mark(m.sku_column, "SKU");
  mark(m.quantity_column, "quantity");
  mark(m.distinct_column, "counted");
  mark(m.price_column, "price");
  mark(m.cost_column, "cost");
  mark(m.date_column, "date");
  return roles;
}

export function cleanMapping(m: ColumnMapping): ColumnMapping {
  const out: ColumnMapping = { ...m };
  if (out.quantity_mode === "row_count" || out.quantity_mode === "distinct_count") out.quantity_column = null;
  if (out.quantity_mode !== "distinct_count") out.distinct_column = null;
  if (out.sku_column) out.sku_constant = null;
  out.filters = m.filters.filter((f) => f.column);
  return out;
}

export function parseNumber(text: string, detection: Detection): number | null {
  let s = text.trim();
  if (!s) return null;
  if (detection.thousands_separator) s = s.split(detection.thousands_separator).join("");
  if (detection.decimal_separator !== ".") s = s.replace(detection.decimal_separator, ".");
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
}

export function passes(filter: RowFilter, cell: string): boolean {
  const value = cell.trim().toLowerCase();
  const wanted = filter.values.map((v) => v.trim().toLowerCase());
  switch (filter.operator) {
    case "equals":
      return value === wanted[0];
    case "not_equals":
      return value !== wanted[0];
    case "in":
      return wanted.includes(value);
    case "not_in":
      return !wanted.includes(value);
    case "contains":
      return value.includes(wanted[0] ?? "");
    case "not_empty":
      return value !== "";
  }
}

/** What the mapping makes of the preview rows: the live preview of the column step. */
export function previewUsage(inspection: ImportInspection, m: ColumnMapping) {
  const names = inspection.preview.columns.map((c) => c.name);
  const at = (row: string[], column: string | null | undefined) => (column ? (row[names.indexOf(column)] ?? "") : "");
  const groups = new Map<string, { account: string; sku: string; quantity: number; distinct: Set<string>; rows: number }>();
  const issues: string[] = [];
  let withoutAccount = 0;
  inspection.preview.rows.forEach((row, index) => {
    if (!m.filters.every((f) => !f.column || passes(f, at(row, f.column)))) return;
    const account = at(row, m.account_id_column) || at(row, m.account_column);
    const sku = m.sku_column ? at(row, m.sku_column) : (m.sku_constant ?? "");
    if (!account.trim()) {
      // A totals line or a blank one: the import ignores it too, and counts it.
      withoutAccount += 1;
      return;
    }
    const key = `${account}\u0000${sku}`;
    const group = groups.get(key) ?? { account: at(row, m.account_column) || account, sku, quantity: 0, distinct: new Set<string>(), rows: 0 };
    group.rows += 1;
    if (m.quantity_mode === "column_value" || m.quantity_mode === "sum_per_sku") {
      const n = parseNumber(at(row, m.quantity_column), inspection.detection);
      if (n === null || n < 0) issues.push(`Preview row ${index + 1}: "${at(row, m.quantity_column)}" is not a quantity.`);
      else group.quantity += n;
    } else if (m.quantity_mode === "distinct_count") {
      group.distinct.add(at(row, m.distinct_column));
    }
    groups.set(key, group);
  });
  const usage = [...groups.values()].map((g) => ({
    account: g.account,
    sku: g.sku,
    quantity: m.quantity_mode === "row_count" ? g.rows : m.quantity_mode === "distinct_count" ? g.distinct.size : g.quantity,
    rows: g.rows,
  }));
  if (m.quantity_mode === "column_value") {
    for (const g of usage) if (g.rows > 1) issues.push(`${g.account} / ${g.sku} appears on ${g.rows} rows: use "Sum per SKU".`);
  }
  return { usage, issues, withoutAccount };
}
