import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { api, errorMessage, getItems, isNotFound, itemsOf } from "../api";
import { EmptyState, ErrorBanner, Modal, NotYet, PageHeader, Spinner, VendorTag, useToasts } from "../components/ui";
import { useCards } from "../cards";
import { titleCase } from "../format";
import { navigate, useSearch } from "../router";
import type { AccountMapping, AccountMappingList, ServiceLine, ServiceMapping, ServiceMappingList, Suggestion } from "../types";

type Tab = "accounts" | "services";

export default function MappingPage() {
  const search = useSearch();
  const tab: Tab = search.get("tab") === "services" ? "services" : "accounts";
  return (
    <div className="page">
      <PageHeader
        title="Mapping"
        subtitle="Tie each vendor account to a PSA account, and each vendor SKU to the service line it bills."
      />
      <div className="tabs" role="tablist" aria-label="Mapping">
        {(["accounts", "services"] as const).map((value) => (
          <button
            key={value}
            type="button"
            role="tab"
            id={`tab-${value}`}
            aria-selected={tab === value}
            aria-controls={`panel-${value}`}
            className={tab === value ? "tab active" : "tab"}
            onClick={() => navigate(value === "accounts" ? "/mapping" : "/mapping?tab=services")}
          >
            {value === "accounts" ? "Accounts" : "Services"}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === "accounts" ? <AccountsTab /> : <ServicesTab />}
      </div>
    </div>
  );
}

function keyOf(m: { vendor: string; vendor_account: string }): string {
  return `${m.vendor}\u0000${m.vendor_account}`;
}

/** Scores are 0 to 100; older answers gave 0 to 1. */
function percent(score: string | number): number {
  const n = Number(score);
  return n <= 1 ? n * 100 : n;
}

/** The server's threshold when the tenant has set none (docs/api.md); only used when an
 * older server does not send its own. */
const DEFAULT_THRESHOLD = 95;

function scoreClass(score: string | number, threshold = DEFAULT_THRESHOLD): string {
  const s = percent(score);
  return s >= threshold ? "score-high" : s >= 70 ? "score-mid" : "score-low";
}

function thresholdOf(answer: { threshold?: string | number | null } | unknown[] | undefined): number {
  if (!answer || Array.isArray(answer) || answer.threshold == null) return DEFAULT_THRESHOLD;
  const n = Number(answer.threshold);
  return Number.isFinite(n) ? n : DEFAULT_THRESHOLD;
}

/** The suggestion that may fill the choice in: the best one, and only when the server says
 * it is at or above the tenant's threshold. A look-alike ("Ironwood Legal" for "Ironwood
 * Dental Co.") is shown, but the choice stays empty until a person picks it. */
function preselected<T extends { preselect?: boolean }>(suggestions: T[] | undefined): T | undefined {
  const best = suggestions?.[0];
  return best?.preselect ? best : undefined;
}

/** "95", "95.5": a minimum score a person typed, or null when it is not one. */
function minimumScore(text: string): number | null {
  if (!/^\d{1,3}(\.\d+)?$/.test(text.trim())) return null;
  const n = Number(text);
  return n >= 0 && n <= 100 ? n : null;
}

type AcceptPair = { mapping: AccountMapping; suggestion: Suggestion };

function scoreText(score: string | number): string {
  return `${Math.round(percent(score))}%`;
}

function AccountsTab() {
  const client = useQueryClient();
  const toasts = useToasts();
  const [status, setStatus] = useState("unmapped");
  const [chosen, setChosen] = useState<Record<string, string>>({});
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [filter, setFilter] = useState("");
  const [acceptAt, setAcceptAt] = useState<string | null>(null);
  const [preview, setPreview] = useState<{ minimum: number; pairs: AcceptPair[] } | null>(null);

  // Every PSA account with a contract line, from the cards (which cover every line item),
  // so a vendor account with no suggestion can still be mapped by hand.
  const cards = useCards({ include_hidden: true });
  const accounts = useMemo(() => {
    const byId = new Map<string, string>();
    for (const card of cards.data?.items ?? []) {
      if (card.account_id && !byId.has(card.account_id)) byId.set(card.account_id, card.account_name);
    }
    return [...byId.entries()].map(([id, name]) => ({ id, name })).sort((a, b) => a.name.localeCompare(b.name));
  }, [cards.data]);

  const mappings = useQuery({
    queryKey: ["mappings", "accounts", status],
    queryFn: ({ signal }) => api.get<AccountMappingList | AccountMapping[]>(`/api/v1/mappings/accounts?status=${status}`, signal),
  });
  const threshold = thresholdOf(mappings.data ?? undefined);

  const change = useMutation({
    mutationFn: (items: { vendor: string; vendor_account: string; action: "map" | "exclude" | "unmap"; account_id?: string }[]) =>
      api.post<{ changed: number }>("/api/v1/mappings/accounts", { items }),
    onSuccess: (result, items) => {
      toasts.push({
        message: `${items[0]?.action === "exclude" ? "Excluded" : items[0]?.action === "unmap" ? "Unmapped" : "Mapped"} ${result?.changed ?? items.length} vendor account${items.length === 1 ? "" : "s"}`,
        tone: "success",
      });
      setSelected(new Set());
      setPreview(null);
      void client.invalidateQueries({ queryKey: ["mappings"] });
      void client.invalidateQueries({ queryKey: ["unmapped"] });
      void client.invalidateQueries({ queryKey: ["cards"] });
    },
    onError: (error) => toasts.push({ message: errorMessage(error), tone: "error" }),
  });

  const rows = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    return itemsOf(mappings.data).filter(
      (m) => !needle || `${m.vendor_account_name} ${m.vendor_account} ${m.account_name ?? ""}`.toLowerCase().includes(needle),
    );
  }, [mappings.data, filter]);

  const target = (m: AccountMapping) => chosen[keyOf(m)] ?? preselected(m.suggestions)?.account_id ?? "";
  const selectedRows = rows.filter((m) => selected.has(keyOf(m)));
  const withTarget = selectedRows.filter((m) => target(m));
  // "Accept all ≥ N%": the best suggestion of each unmapped row shown, from N up.
  const acceptText = acceptAt ?? String(threshold);
  const minimum = minimumScore(acceptText);
  const acceptable: AcceptPair[] =
    minimum === null
      ? []
      : rows.flatMap((m) => {
          const best = m.suggestions[0];
          return m.status === "unmapped" && best && percent(best.score) >= minimum ? [{ mapping: m, suggestion: best }] : [];
        });

  if (mappings.error && isNotFound(mappings.error)) return <NotYet what="Account mapping" />;

  return (
    <div>
      <div className="toolbar">
        <label className="visually-hidden" htmlFor="acct-filter">
          Search vendor accounts
        </label>
        <input id="acct-filter" type="search" placeholder="Search vendor accounts…" value={filter} onChange={(e) => setFilter(e.target.value)} />
        <label className="visually-hidden" htmlFor="acct-status">
          Status
        </label>
        <select id="acct-status" value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="unmapped">Unmapped</option>
          <option value="mapped">Mapped</option>
          <option value="excluded">Excluded</option>
          <option value="all">All</option>
        </select>
        <span className="toolbar-spacer" />
        <label className="small" htmlFor="accept-at">
          Minimum score
        </label>
        <input
          id="accept-at"
          className="input-narrow"
          type="number"
          min={0}
          max={100}
          step={1}
          value={acceptText}
          aria-invalid={minimum === null}
          onChange={(e) => setAcceptAt(e.target.value)}
        />
        <button
          type="button"
          className="btn btn-small"
          disabled={minimum === null || !acceptable.length || change.isPending}
          title={minimum === null ? "Enter a score from 0 to 100" : `Preview the ${acceptable.length} pair(s) before mapping them`}
          onClick={() => minimum !== null && setPreview({ minimum, pairs: acceptable })}
        >
          Accept all ≥ {minimum ?? "?"}%…
        </button>
        <button
          type="button"
          className="btn btn-primary btn-small"
          disabled={!withTarget.length || change.isPending}
          onClick={() =>
            change.mutate(withTarget.map((m) => ({ vendor: m.vendor, vendor_account: m.vendor_account, action: "map" as const, account_id: target(m) })))
          }
        >
          Accept {withTarget.length || ""} selected
        </button>
        <button
          type="button"
          className="btn btn-small"
          disabled={!selectedRows.length || change.isPending}
          onClick={() => change.mutate(selectedRows.map((m) => ({ vendor: m.vendor, vendor_account: m.vendor_account, action: "exclude" as const })))}
        >
          Exclude selected
        </button>
      </div>
      <ErrorBanner error={mappings.error} onRetry={() => void mappings.refetch()} />
      {preview && (
        <AcceptAllPreview
          minimum={preview.minimum}
          threshold={threshold}
          pairs={preview.pairs}
          busy={change.isPending}
          onClose={() => setPreview(null)}
          onConfirm={() =>
            change.mutate(
              preview.pairs.map(({ mapping: m, suggestion: s }) => ({
                vendor: m.vendor,
                vendor_account: m.vendor_account,
                action: "map" as const,
                account_id: s.account_id,
              })),
            )
          }
        />
      )}
      {mappings.isPending ? (
        <Spinner />
      ) : rows.length === 0 && !mappings.isError ? (
        <EmptyState
          title={status === "unmapped" ? "Every vendor account is mapped" : "No vendor account here"}
          actions={
            <button type="button" className="btn" onClick={() => navigate("/import")}>
              Import vendor usage
            </button>
          }
        >
          Vendor accounts appear here when usage arrives for a company TrueUp cannot match to a PSA account on its own.
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="grid" data-testid="account-mappings">
            <thead>
              <tr>
                <th scope="col" style={{ width: 40 }}>
                  <input
                    type="checkbox"
                    aria-label="Select all vendor accounts"
                    checked={rows.length > 0 && selectedRows.length === rows.length}
                    onChange={(e) => setSelected(e.target.checked ? new Set(rows.map(keyOf)) : new Set())}
                  />
                </th>
                <th scope="col">Vendor account</th>
                <th scope="col">PSA account</th>
                <th scope="col">Why</th>
                <th scope="col" className="num">
                  Usage
                </th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((m) => {
                const key = keyOf(m);
                const current = target(m);
                const suggestion = m.suggestions.find((s) => s.account_id === current);
                const best = m.suggestions[0];
                const label = `${m.vendor_account_name} (${m.vendor})`;
                return (
                  <tr key={key} className={selected.has(key) ? "selected" : undefined}>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`Select ${label}`}
                        checked={selected.has(key)}
                        onChange={(e) => {
                          const next = new Set(selected);
                          if (e.target.checked) next.add(key);
                          else next.delete(key);
                          setSelected(next);
                        }}
                      />
                    </td>
                    <td>
                      <div className="cell-stack">
                        <span>
                          <VendorTag vendor={m.vendor} /> <strong>{m.vendor_account_name}</strong>
                        </span>
                        <span className="muted small mono">{m.vendor_account}</span>
                      </div>
                    </td>
                    <td>
                      {m.status === "mapped" && m.account_name ? (
                        <span>
                          {m.account_name} {m.automatic && <span className="pill">auto</span>}
                        </span>
                      ) : m.status === "excluded" ? (
                        <span className="muted">Excluded</span>
                      ) : (
                        <>
                          <select
                            aria-label={`PSA account for ${label}`}
                            value={current}
                            onChange={(e) => setChosen({ ...chosen, [key]: e.target.value })}
                          >
                            <option value="">Choose an account…</option>
                            {m.suggestions.length > 0 && (
                              <optgroup label="Suggested">
                                {m.suggestions.map((s) => (
                                  <option key={s.account_id} value={s.account_id}>
                                    {s.account_name} · {scoreText(s.score)}
                                  </option>
                                ))}
                              </optgroup>
                            )}
                            <optgroup label="All accounts">
                              {accounts.map((a) => (
                                <option key={a.id} value={a.id}>
                                  {a.name}
                                </option>
                              ))}
                            </optgroup>
                          </select>
                        </>
                      )}
                    </td>
                    <td>
                      {suggestion ? (
                        <span className="cell-stack">
                          <span className={`score ${scoreClass(suggestion.score, threshold)}`}>{scoreText(suggestion.score)} match</span>
                          <span className="muted small">{suggestion.reason}</span>
                        </span>
                      ) : m.status === "unmapped" && best ? (
                        <span className="cell-stack" data-testid="below-threshold">
                          <span className={`score ${scoreClass(best.score, threshold)}`}>
                            Best guess {scoreText(best.score)}: {best.account_name}
                          </span>
                          <span className="muted small">
                            Below {threshold}%, so not pre-selected: {best.reason}
                          </span>
                        </span>
                      ) : m.status === "unmapped" ? (
                        <span className="muted small">No likely account</span>
                      ) : (
                        <span className="muted small">{titleCase(m.status)}</span>
                      )}
                    </td>
                    <td className="num">{m.usage_count}</td>
                    <td>
                      <div className="row-actions">
                      {m.status === "unmapped" ? (
                        <>
                          <button
                            type="button"
                            className="btn btn-primary btn-small"
                            disabled={!current || change.isPending}
                            aria-label={`Map ${label}`}
                            onClick={() => change.mutate([{ vendor: m.vendor, vendor_account: m.vendor_account, action: "map", account_id: current }])}
                          >
                            Map
                          </button>
                          <button
                            type="button"
                            className="btn btn-ghost btn-small"
                            aria-label={`Exclude ${label}`}
                            disabled={change.isPending}
                            onClick={() => change.mutate([{ vendor: m.vendor, vendor_account: m.vendor_account, action: "exclude" }])}
                          >
                            Exclude
                          </button>
                        </>
                      ) : (
                        <button
                          type="button"
                          className="btn btn-ghost btn-small"
                          aria-label={`Unmap ${label}`}
                          disabled={change.isPending}
                          onClick={() => change.mutate([{ vendor: m.vendor, vendor_account: m.vendor_account, action: "unmap" }])}
                        >
                          Unmap
                        </button>
                      )}
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function AcceptAllPreview({
  minimum,
  threshold,
  pairs,
  busy,
  onClose,
  onConfirm,
}: {
  minimum: number;
  threshold: number;
  pairs: AcceptPair[];
  busy: boolean;
  onClose: () => void;
  onConfirm: () => void;
}) {
  const below = pairs.filter((p) => percent(p.suggestion.score) < threshold).length;
  return (
    <Modal
      wide
      title={`Accept all suggestions ≥ ${minimum}%`}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="button" className="btn btn-primary" disabled={busy || !pairs.length} onClick={onConfirm}>
            Map {pairs.length} vendor account{pairs.length === 1 ? "" : "s"}
          </button>
        </>
      }
    >
      <p>
        {pairs.length} vendor account{pairs.length === 1 ? "" : "s"} will be mapped to the PSA account shown. Check the pairs: a
        wrong one bills the wrong client.
      </p>
      {below > 0 && (
        <div className="banner banner-error" role="alert">
          {below} of these {below === 1 ? "is" : "are"} below your threshold of {threshold}%: the names only look alike. Lower the
          minimum only after reading every pair.
        </div>
      )}
      <div className="table-wrap">
        <table className="grid" data-testid="accept-all-preview">
          <caption className="visually-hidden">Vendor accounts and the PSA accounts they will be mapped to</caption>
          <thead>
            <tr>
              <th scope="col">Vendor account</th>
              <th scope="col">PSA account</th>
              <th scope="col" className="num">
                Score
              </th>
              <th scope="col">Why</th>
            </tr>
          </thead>
          <tbody>
            {pairs.map(({ mapping: m, suggestion: s }) => (
              <tr key={keyOf(m)}>
                <td>
                  <VendorTag vendor={m.vendor} /> {m.vendor_account_name}
                </td>
                <td>→ {s.account_name}</td>
                <td className="num">
                  <span className={`score ${scoreClass(s.score, threshold)}`}>{scoreText(s.score)}</span>
                </td>
                <td className="muted small">{s.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Modal>
  );
}

function ServicesTab() {
  const client = useQueryClient();
  const toasts = useToasts();
  const services = useQuery({
    queryKey: ["mappings", "services"],
    queryFn: ({ signal }) => api.get<ServiceMappingList | ServiceMapping[]>("/api/v1/mappings/services", signal),
  });
  const threshold = thresholdOf(services.data ?? undefined);
  const skus = itemsOf(services.data);
  const lines = useQuery({
    queryKey: ["service-lines"],
    queryFn: ({ signal }) => getItems<ServiceLine>("/api/v1/service-lines", signal),
  });
  const [drafts, setDrafts] = useState<Record<string, Partial<ServiceMapping>>>({});

  const save = useMutation({
    mutationFn: (m: ServiceMapping) =>
      api.put<ServiceMapping>("/api/v1/mappings/services", {
        vendor: m.vendor,
        sku: m.sku,
        service_line_id: m.service_line_id,
        factor: m.factor,
        rounding: m.rounding,
        excluded: m.excluded,
      }),
    onSuccess: (_, m) => {
      toasts.push({ message: `Saved ${m.sku_name || m.sku}`, tone: "success" });
      setDrafts((d) => {
        const next = { ...d };
        delete next[`${m.vendor}\u0000${m.sku}`];
        return next;
      });
      void client.invalidateQueries({ queryKey: ["mappings"] });
      void client.invalidateQueries({ queryKey: ["unmapped"] });
      void client.invalidateQueries({ queryKey: ["cards"] });
    },
    onError: (error) => toasts.push({ message: errorMessage(error), tone: "error" }),
  });

  const saveLine = useMutation({
    mutationFn: ({ id, patch }: { id: string; patch: Partial<ServiceLine> }) => api.patch<ServiceLine>(`/api/v1/service-lines/${encodeURIComponent(id)}`, patch),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["service-lines"] }),
    onError: (error) => toasts.push({ message: errorMessage(error), tone: "error" }),
  });

  if (services.error && isNotFound(services.error)) return <NotYet what="Service mapping" />;

  return (
    <div className="stack">
      <ErrorBanner error={services.error} onRetry={() => void services.refetch()} />
      {services.isPending ? (
        <Spinner />
      ) : skus.length === 0 && !services.isError ? (
        <EmptyState title="No vendor SKU yet">SKUs appear here once a vendor reports usage for them.</EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="grid" data-testid="service-mappings">
            <caption className="table-caption">Vendor SKU → PSA service line</caption>
            <thead>
              <tr>
                <th scope="col">Vendor SKU</th>
                <th scope="col">Service line</th>
                <th scope="col" className="num">
                  Units per SKU
                </th>
                <th scope="col">Rounding</th>
                <th scope="col">Excluded</th>
                <th scope="col" className="num">
                  Usage
                </th>
                <th scope="col">
                  <span className="visually-hidden">Save</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {skus.map((original) => {
                const key = `${original.vendor}\u0000${original.sku}`;
                const unmapped = !original.service_line_id && !original.excluded;
                const suggestions = unmapped ? (original.suggestions ?? []) : [];
                // Only a suggestion the server marks pre-selectable fills the choice in, and
                // it is not saved until a person presses Save.
                const suggested = preselected(suggestions);
                const base = suggested ? { ...original, service_line_id: suggested.service_line_id } : original;
                const m = { ...base, ...drafts[key] } as ServiceMapping;
                const dirty = Boolean(drafts[key]) || Boolean(suggested);
                const chosenSuggestion = suggestions.find((s) => s.service_line_id === m.service_line_id);
                const best = suggestions[0];
                const set = (patch: Partial<ServiceMapping>) => setDrafts({ ...drafts, [key]: { ...drafts[key], ...patch } });
                const label = m.sku_name || m.sku;
                return (
                  <tr key={key} className={!m.service_line_id && !m.excluded ? "row-warn" : undefined}>
                    <td>
                      <div className="cell-stack">
                        <span>
                          <VendorTag vendor={m.vendor} /> {label}
                        </span>
                        <span className="muted small mono">{m.sku}</span>
                      </div>
                    </td>
                    <td>
                      <div className="cell-stack">
                        <select
                          aria-label={`Service line for ${label}`}
                          value={m.service_line_id ?? ""}
                          onChange={(e) => set({ service_line_id: e.target.value || null })}
                        >
                          <option value="">Not mapped</option>
                          {suggestions.length > 0 && (
                            <optgroup label="Suggested">
                              {suggestions.map((s) => (
                                <option key={s.service_line_id} value={s.service_line_id}>
                                  {s.service_line} · {scoreText(s.score)}
                                </option>
                              ))}
                            </optgroup>
                          )}
                          <optgroup label="All service lines">
                            {(lines.data ?? []).map((line) => (
                              <option key={line.service_line_id} value={line.service_line_id}>
                                {line.name}
                              </option>
                            ))}
                          </optgroup>
                        </select>
                        {chosenSuggestion ? (
                          <span className="muted small">
                            <span className={`score ${scoreClass(chosenSuggestion.score, threshold)}`}>{scoreText(chosenSuggestion.score)} match</span>{" "}
                            {chosenSuggestion.reason}
                          </span>
                        ) : !m.service_line_id && best ? (
                          <span className="muted small" data-testid="below-threshold">
                            Best guess {scoreText(best.score)}: {best.service_line}. Below {threshold}%, so not pre-selected: {best.reason}
                          </span>
                        ) : null}
                      </div>
                    </td>
                    <td className="num">
                      <input
                        className="input-narrow"
                        inputMode="decimal"
                        aria-label={`Sales unit factor for ${label}`}
                        value={m.factor}
                        onChange={(e) => set({ factor: e.target.value.trim() })}
                      />
                    </td>
                    <td>
                      <select
                        aria-label={`Rounding for ${label}`}
                        value={m.rounding}
                        onChange={(e) => set({ rounding: e.target.value as ServiceMapping["rounding"] })}
                      >
                        <option value="up">Up</option>
                        <option value="half_up">Nearest</option>
                        <option value="down">Down</option>
                        <option value="exact">Exact (no rounding)</option>
                      </select>
                    </td>
                    <td>
                      <input type="checkbox" aria-label={`Exclude ${label}`} checked={m.excluded} onChange={(e) => set({ excluded: e.target.checked })} />
                    </td>
                    <td className="num">{m.usage_count}</td>
                    <td>
                      <button
                        type="button"
                        className="btn btn-primary btn-small"
                        disabled={!dirty || save.isPending || !/^\d+(\.\d+)?$/.test(m.factor)}
                        onClick={() => save.mutate(m)}
                        aria-label={`Save ${label}`}
                      >
                        Save
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}

      {lines.data && lines.data.length > 0 && (
        <div className="table-wrap">
          <table className="grid">
            <caption className="table-caption">Service lines: vendor tag and sales unit</caption>
            <thead>
              <tr>
                <th scope="col">Service line</th>
                <th scope="col">Vendor tag</th>
                <th scope="col">Sales unit</th>
                <th scope="col" className="num">
                  Cards
                </th>
              </tr>
            </thead>
            <tbody>
              {lines.data.map((line) => (
                <tr key={line.service_line_id}>
                  <td>{line.name}</td>
                  <td>
                    <input
                      aria-label={`Vendor tag of ${line.name}`}
                      defaultValue={line.vendor_tag ?? ""}
                      onBlur={(e) => {
                        if (e.target.value !== (line.vendor_tag ?? ""))
                          saveLine.mutate({ id: line.service_line_id, patch: { vendor_tag: e.target.value || null } });
                      }}
                    />
                  </td>
                  <td>
                    <input
                      aria-label={`Sales unit of ${line.name}`}
                      defaultValue={line.sales_unit ?? ""}
                      onBlur={(e) => {
                        if (e.target.value !== (line.sales_unit ?? ""))
                          saveLine.mutate({ id: line.service_line_id, patch: { sales_unit: e.target.value } });
                      }}
                    />
                  </td>
                  <td className="num">{line.cards}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
