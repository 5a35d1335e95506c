import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { api, errorMessage, getItems, isNotFound } from "../api";
import { EmptyState, ErrorBanner, NotYet, PageHeader, Spinner, VendorTag, useToasts } from "../components/ui";
import { useCards } from "../cards";
import { titleCase } from "../format";
import { navigate, useSearch } from "../router";
import type { AccountMapping, ServiceLine, ServiceMapping } from "../types";

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

function scoreClass(score: string | number): string {
  const s = percent(score);
  return s >= 90 ? "score-high" : s >= 70 ? "score-mid" : "score-low";
}

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
    queryFn: ({ signal }) => getItems<AccountMapping>(`/api/v1/mappings/accounts?status=${status}`, signal),
  });

  const change = useMutation({
    mutationFn: (items: { vendor: string; vendor_account: string; action: "map" | "exclude" | "unmap"; account_id?: string }[]) =>
      api.post<{ changed: number }>("/api/v1/mappings/accounts", { items }),
    onSuccess: (result, items) => {
      toasts.push({
        message: `${items[0]?.action === "exclude" ? "Excluded" : items[0]?.action === "unmap" ? "Unmapped" : "Mapped"} ${result?.changed ?? items.length} vendor account${items.length === 1 ? "" : "s"}`,
        tone: "success",
      });
      setSelected(new Set());
      void client.invalidateQueries({ queryKey: ["mappings"] });
      void client.invalidateQueries({ queryKey: ["unmapped"] });
      void client.invalidateQueries({ queryKey: ["cards"] });
    },
    onError: (error) => toasts.push({ message: errorMessage(error), tone: "error" }),
  });

  const rows = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    return (mappings.data ?? []).filter(
      (m) => !needle || `${m.vendor_account_name} ${m.vendor_account} ${m.account_name ?? ""}`.toLowerCase().includes(needle),
    );
  }, [mappings.data, filter]);

  const target = (m: AccountMapping) => chosen[keyOf(m)] ?? m.suggestions[0]?.account_id ?? "";
  const selectedRows = rows.filter((m) => selected.has(keyOf(m)));
  const withTarget = selectedRows.filter((m) => target(m));

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
                          <span className={`score ${scoreClass(suggestion.score)}`}>{scoreText(suggestion.score)} match</span>
                          <span className="muted small">{suggestion.reason}</span>
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

function ServicesTab() {
  const client = useQueryClient();
  const toasts = useToasts();
  const services = useQuery({
    queryKey: ["mappings", "services"],
    queryFn: ({ signal }) => getItems<ServiceMapping>("/api/v1/mappings/services", signal),
  });
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
      ) : (services.data ?? []).length === 0 && !services.isError ? (
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
              {(services.data ?? []).map((original) => {
                const key = `${original.vendor}\u0000${original.sku}`;
                const m = { ...original, ...drafts[key] } as ServiceMapping;
                const dirty = Boolean(drafts[key]);
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
                      <select
                        aria-label={`Service line for ${label}`}
                        value={m.service_line_id ?? ""}
                        onChange={(e) => set({ service_line_id: e.target.value || null })}
                      >
                        <option value="">Not mapped</option>
                        {(lines.data ?? []).map((line) => (
                          <option key={line.service_line_id} value={line.service_line_id}>
                            {line.name}
                          </option>
                        ))}
                      </select>
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
