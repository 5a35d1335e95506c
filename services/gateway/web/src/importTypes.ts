// Shapes of the gateway's import API (docs/api.md): the CSV wizard, import profiles and
// usage removal. Re-exported by types.ts, which the app imports them from.

export interface Detection {
  file_name: string | null;
  encoding: string;
  bom: boolean;
  delimiter: string;
  quote_char: string;
  line_terminator: string;
  header_row: number;
  preamble_rows?: number;
  columns: string[];
  decimal_separator: string;
  thousands_separator: string;
  header_fingerprint?: string;
}

export interface ColumnPreview {
  name: string;
  position: number;
  inferred_type: string;
  examples: string[];
  distinct_values: number;
  empty_cells: number;
}

export type QuantityMode = "column_value" | "row_count" | "distinct_count" | "sum_per_sku";

export interface RowFilter {
  column: string;
  operator: "equals" | "not_equals" | "in" | "not_in" | "contains" | "not_empty";
  values: string[];
}

export interface ColumnMapping {
  account_column: string;
  account_id_column?: string | null;
  sku_column?: string | null;
  sku_constant?: string | null;
  quantity_mode: QuantityMode;
  quantity_column?: string | null;
  distinct_column?: string | null;
  price_column?: string | null;
  cost_column?: string | null;
  date_column?: string | null;
  filters: RowFilter[];
}

export interface RowError {
  row: number;
  column: string | null;
  reason: string;
  value?: string | null;
}

export interface ImportCounts {
  rows_read: number;
  rows_imported: number;
  rows_skipped_invalid: number;
  totals_rows_ignored: number;
  rows_filtered_out: number;
  blank_rows: number;
}

export interface ImportUsage {
  vendor: string;
  vendor_account_id: string;
  vendor_account_name: string;
  sku: string;
  sku_name: string;
  quantity: string;
}

/** `ImportView`: an upload from its inspection to its end. */
export interface ImportView {
  import_id: string;
  file_name: string;
  vendor: string | null;
  status: "inspected" | "queued" | "running" | "completed" | "unchanged" | "failed" | string;
  progress_percent: number;
  detection: Detection | null;
  preview: { columns: ColumnPreview[]; rows: string[][] } | null;
  suggestion: {
    mapping: ColumnMapping | null;
    missing?: string[];
    roles?: Record<string, { column: string; score: number; reason: string }>;
  } | null;
  profile: { profile_id: string; name: string; vendor: string; mapping: ColumnMapping } | null;
  counts: ImportCounts | null;
  error_count: number;
  errors: RowError[];
  error: string | null;
  unchanged_from?: string | null;
  usage: ImportUsage[];
  usage_total: number;
}

/** An inspected upload: detection, preview and suggestion are there. */
export type ImportInspection = ImportView & {
  detection: Detection;
  preview: { columns: ColumnPreview[]; rows: string[][] };
};

/** A saved import profile: a vendor's mapping, recognised by the header of its files. */
export interface ImportProfile {
  profile_id: string;
  name: string;
  vendor: string;
  header_fingerprint: string;
  header_columns: string[];
  mapping: ColumnMapping;
  imports: number;
  last_used_at: string | null;
  created_at: string;
  updated_at: string;
}

/** An import that stored usage; `records` is how much of it is still current. */
export interface ImportSummary {
  import_id: string;
  file_name: string;
  vendor: string;
  status: string;
  created_at: string;
  records: number;
}

/** What a usage removal removes (a dry run) or removed. */
export interface UsageRemoval {
  dry_run: boolean;
  vendor: string;
  import_id: string | null;
  label: string;
  records: number;
  vendor_accounts: number;
  cards: number;
  removal_id: string | null;
}
