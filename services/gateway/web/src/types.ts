// Shapes of the gateway's HTTP API (docs/api.md). Money and quantities are decimal strings.

export type Role = "viewer" | "billing" | "admin";

export interface Me {
  tenant_id: string;
  role: Role | string;
  kind: string;
  name: string;
  csrf_token: string | null;
}

export type CardKind = "reconcile" | "no_change" | "new_revenue";
export type CardState = "pending" | "approved" | "applied" | "conflict" | "failed" | "dismissed";
export type CardAction = "approve" | "dismiss" | "add" | "restore" | "retry" | "set_effective_date";

export interface Card {
  card_id: string;
  kind: CardKind | string;
  state: CardState | string;
  account_id?: string | null;
  account_name: string;
  service_line_id?: string | null;
  service_line: string;
  contract_id?: string | null;
  contract_name: string;
  line_item_id?: string | null;
  vendors?: string[];
  vendor?: string;
  psa_quantity: string | null;
  vendor_quantity: string | null;
  target_quantity?: string | null;
  delta: string;
  unit_price?: string | null;
  unit_cost?: string | null;
  /** Every money figure of the card is in this currency. */
  currency?: string;
  billing_cycle?: string;
  /** Months in one billing period of the contract: 1, 3, 6 or 12. */
  period_months?: number;
  /** What quantities count (the service line's sales unit). */
  sales_unit?: string | null;
  /** Revenue change per billing period of the contract (a quarter on a quarterly one). */
  period_change?: string | null;
  period_cost_change?: string | null;
  period_profit_change?: string | null;
  /** Revenue change per month (MRR). */
  mrr_change?: string | null;
  mrr_cost_change?: string | null;
  mrr_profit_change?: string | null;
  stale: boolean;
  usage_as_of?: string | null;
  auto_approval?: string | null;
  error?: string | null;
  is_new?: boolean;
  updated_at: string;
  /** Units other line items of this account and service line bill. */
  billed_elsewhere?: string;
  /** False on line items that keep their quantity while another carries the difference. */
  carries_difference?: boolean;
  /** Why approving is a large change (it then needs a confirmation). */
  large_change?: string | null;
  /** What the card accepts now (the server's lifecycle decides; none in a closed cycle). */
  actions?: CardAction[];
}

/** Monthly money of the cards in one currency: totals never add two currencies. */
export interface CurrencyTotals {
  currency: string;
  cards: number;
  mrr_change: string;
  mrr_cost_change: string;
  mrr_profit_change: string;
}

export interface CardTotals {
  cards: number;
  by_currency: CurrencyTotals[];
}

export interface CardPage {
  items: Card[];
  next_cursor: string | null;
  totals?: CardTotals;
}

export interface ProratedChange {
  effective_date: string;
  quantity: string;
}

export interface ChangeRequest {
  quantity?: string;
  effective_date?: string;
  prorated_changes?: ProratedChange[];
  /** Required to approve a large change. */
  confirm?: boolean;
  /** Preview of an add only: the price and cost it would write. */
  unit_price?: string;
  unit_cost?: string;
}

export interface PreviewLine {
  effective_date: string;
  quantity_before: string;
  quantity_after: string;
  period_start: string;
  period_end: string;
  days: number;
  revenue: string;
  cost: string;
  profit: string;
}

export interface PreviewStep {
  effective_date: string;
  quantity_before: string;
  quantity_after: string;
}

export interface ChangePreview {
  /** What approving writes to the PSA, in order. */
  steps: PreviewStep[];
  large_change?: string | null;
  lines: PreviewLine[];
  revenue_change: string;
  cost_change: string;
  profit_change: string;
  mrr_change: string;
  margin: string | null;
  currency?: string;
}

export interface ActionAccepted {
  action_id: string;
  card_id: string;
  state: string;
}

export interface BulkResult {
  accepted: ActionAccepted[];
  rejected: { card_id: string; status: number; detail: string }[];
}

export interface Actor {
  kind?: string;
  id?: string;
  name?: string;
}

export interface ActivityEntry {
  entry_id: string;
  occurred_at: string;
  recorded_at?: string;
  actor: Actor;
  action_type: string;
  outcome: string | null;
  summary: string;
  card_id: string | null;
  account_name: string;
  account_id?: string | null;
  service_line: string;
  contract_psa_id: string | null;
  quantity_before: string | null;
  quantity_after: string | null;
  /** Unit prices for one billing period, in `currency` (null in older entries). */
  price_before?: string | null;
  price_after?: string | null;
  currency?: string | null;
  effective_date: string | null;
  prorated_lines?: ProratedChange[];
  psa_record_url: string | null;
}

export interface ActivityPage {
  items: ActivityEntry[];
  next_cursor: string | null;
}

export interface CardDetails {
  card: Card;
  contract: {
    contract_id: string;
    name: string;
    psa: string;
    status: string;
    start_date: string | null;
    end_date: string | null;
    billing_cycle: string;
    bill_in_advance: boolean;
    proration_allowed: boolean;
    currency: string;
    psa_url: string | null;
    /** False: the PSA cannot schedule a later change. */
    dated_changes?: boolean;
  } | null;
  past_actions: ActivityEntry[];
  names: {
    psa_account_name: string;
    psa_contract_name: string;
    vendor_accounts: { vendor: string; vendor_account_id: string; name: string; mapping: string }[];
    psa_synced_at: string | null;
    usage_as_of: string | null;
  };
  change: {
    vendor_quantity: string | null;
    psa_quantity: string | null;
    /** What approving writes by default: the figure the card shows. */
    target_quantity: string | null;
    billed_elsewhere: string;
    shared_with: { card_id: string; contract_name: string; line_item_id: string | null; psa_quantity: string }[];
    unit_price: string | null;
    unit_cost: string | null;
    default_effective_date: string;
    proration_allowed: boolean;
    contributions: { vendor: string; vendor_account_id?: string; sku: string; vendor_quantity: string; quantity: string; stale: boolean }[];
  };
}

export interface Suggestion {
  account_id: string;
  account_name: string;
  /** 0 to 100 (a decimal string). */
  score: string | number;
  reason: string;
  /** Set by the server on the best suggestion at or above the tenant's threshold only:
   * nothing else may fill the choice in before a person picks it. */
  preselect?: boolean;
}

export interface AccountMapping {
  vendor: string;
  vendor_account_id: string;
  vendor_account_name: string;
  account_id: string | null;
  account_name: string | null;
  status: string;
  automatic: boolean;
  usage_count: number;
  sources?: string[];
  suggestions: Suggestion[];
}

export interface AccountMappingList {
  items: AccountMapping[];
  /** The score (0 to 100) from which suggestions are pre-selected: the tenant's
   * suggestion_threshold, or the default. */
  threshold?: string | number | null;
}

export interface ServiceLineSuggestion {
  service_line_id: string;
  service_line: string;
  score: string | number;
  reason: string;
  preselect?: boolean;
}

export interface ServiceMapping {
  vendor: string;
  sku: string;
  sku_name: string;
  service_line_id: string | null;
  service_line: string | null;
  factor: string;
  rounding: "up" | "down" | "half_up" | "exact";
  excluded: boolean;
  usage_count: number;
  suggestions?: ServiceLineSuggestion[];
}

export interface ServiceMappingList {
  items: ServiceMapping[];
  threshold?: string | number | null;
}

export interface ServiceLine {
  service_line_id: string;
  name: string;
  vendor_tag: string | null;
  sales_unit: string;
  cards: number;
}

export interface UnmappedItem {
  vendor: string;
  key: string;
  name: string;
  sources: string[];
  usage_count: number;
  psa_account_hint: string | null;
}

export interface Unmapped {
  accounts: UnmappedItem[];
  skus: UnmappedItem[];
  count: number;
}

export interface ContractOption {
  contract_id: string;
  name: string;
  billing_cycle: string;
  proration_allowed: boolean;
}

export interface BillingSettings {
  cycle_start_day: number;
  proration_convention: "actual_days" | "thirty_day";
  rounding: "half_up" | "half_even";
  /** Pre-selection: the best suggestion at or above it fills a person's choice in (50-100;
   * null: 95). Maps nothing by itself. */
  suggestion_threshold: string | number | null;
  /** Vendor accounts whose best suggestion scores at least this are mapped with nobody
   * looking (90-100; null: never). */
  auto_apply_threshold: string | number | null;
  rules?: Rule[];
  /** Past any of these a change asks for a confirmation and never approves by rule. */
  large_change?: { units: string | null; percent: string | null; money: string | null };
}

export interface Rule {
  name: string;
  vendor?: string | null;
  service_line_id?: string | null;
  max_units?: string | null;
  max_percent?: string | null;
  direction: "any" | "increase" | "decrease";
  max_money?: string | null;
}

export interface PsaConnection {
  connection_id: string;
  psa: string;
  name: string;
  status: string;
  last_success_at: string | null;
  last_error: string | null;
  freshness_seconds: number | null;
  accounts: number;
  contracts: number;
}

export interface SyncStatus {
  connections: PsaConnection[];
  active_accounts: number;
}

export interface User {
  user_id: string;
  email: string;
  name: string;
  role: Role;
  active: boolean;
}

export interface ApiKey {
  key_id: string;
  name: string;
  role: Role;
  created_at: string;
  revoked_at: string | null;
  key?: string;
}

export interface Metrics {
  active_accounts: number;
  billing_tier: string;
  cards_pending: number;
  unmapped: number;
  /** Monthly change of the pending cards, one row per currency. */
  by_currency: CurrencyTotals[];
}

// Imports (the vendor ingestion wizard), import profiles and usage removal.
export type * from "./importTypes";

export interface WebhookEndpoint {
  endpoint_id: string;
  vendor: string;
  name: string;
  path: string;
  created_at: string;
  secrets: { secret_id: string; created_at: string; expires_at: string | null }[];
}

export interface WebhookSecretIssued {
  endpoint: WebhookEndpoint;
  secret: string;
}

export type ConnectorKind = "pax8" | "ninjaone" | "huntress";

export interface Connector {
  connector_id: string;
  name: string;
  kind: ConnectorKind;
  vendor: string;
  base_url: string;
  every_seconds: number;
  enabled: boolean;
  credential_fields: string[];
  created_at: string | null;
  next_run_at: string | null;
  last_run_at: string | null;
  last_status: "ok" | "failed" | null;
  last_error: string | null;
  last_records: number;
}

export interface ConnectorTestResult {
  ok: boolean;
  detail: string;
  records: number;
}

export interface PushKeyStatus {
  exists: boolean;
  key_id: string | null;
  created_at: string | null;
  key?: string;
}
