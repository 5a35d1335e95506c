import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { api, errorMessage, isNotFound, itemsOf } from "../../api";
import { useCards } from "../../cards";
import { titleCase } from "../../format";
import { navigate } from "../../router";
import type { AccountMapping, AccountMappingList, Suggestion } from "../../types";
import { EmptyState, ErrorBanner, NotYet, Spinner, VendorTag, useToasts } from "../ui";
import AcceptAll, { type AcceptAllSubject } from "./AcceptAll";
import { accountWaits, keyOf, preselected, scoreClass, scoreText, thresholdOf } from "./scores";

const ACCOUNTS: AcceptAllSubject<AccountMapping, Suggestion> = {
  one: "vendor account",
  many: "vendor accounts",
  to: "PSA account",
  risk: "a wrong one bills the wrong client.",
  keyOf,
  source: (m) => (
    <>
      <VendorTag vendor={m.vendor} /> {m.vendor_account_name}
    </>
  ),
  target: (s) => s.account_name,
};

export default function AccountsTab() {
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
    queryFn: ({ signal }) => api.get<AccountMappingList | AccountMapping[]>(`/api/v1/mappings/accounts?status=${status}`, signal),
  });
  const threshold = thresholdOf(mappings.data ?? undefined);

  const change = useMutation({
    mutationFn: (items: { vendor: string; vendor_account_id: string; action: "map" | "exclude" | "unmap"; account_id?: string }[]) =>
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
    return itemsOf(mappings.data).filter(
      (m) => !needle || `${m.vendor_account_name} ${m.vendor_account_id} ${m.account_name ?? ""}`.toLowerCase().includes(needle),
    );
  }, [mappings.data, filter]);

  const target = (m: AccountMapping) => chosen[keyOf(m)] ?? preselected(m.suggestions)?.account_id ?? "";
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
        {/* The rows shown: a search narrows what "Accept all" takes. */}
        <AcceptAll
          id="accept-at"
          rows={rows}
          waits={accountWaits}
          threshold={threshold}
          subject={ACCOUNTS}
          busy={change.isPending}
          onAccept={(pairs) =>
            change.mutateAsync(
              pairs.map(({ mapping: m, suggestion: s }) => ({
                vendor: m.vendor,
                vendor_account_id: m.vendor_account_id,
                action: "map" as const,
                account_id: s.account_id,
              })),
            )
          }
        />
        <button
          type="button"
          className="btn btn-primary btn-small"
          disabled={!withTarget.length || change.isPending}
          onClick={() =>
            change.mutate(withTarget.map((m) => ({ vendor: m.vendor, vendor_account_id: m.vendor_account_id, action: "map" as const, account_id: target(m) })))
          }
        >
          Accept {withTarget.length || ""} selected
        </button>
        <button
          type="button"
          className="btn btn-small"
          disabled={!selectedRows.length || change.isPending}
          onClick={() => change.mutate(selectedRows.map((m) => ({ vendor: m.vendor, vendor_account_id: m.vendor_account_id, action: "exclude" as const })))}
        >
          Exclude selected
        </button>
      </div>
      <ErrorBanner error={mappings.error} onRetry={() => void mappings.refetch()} />
      {mappings.isPending ? (
        <Spinner />
      ) : rows.length === 0 && !mappings.isError ? (
        <EmptyState
          title={filter.trim() ? "No vendor account matches" : status === "unmapped" ? "Every vendor account is mapped" : "No vendor account here"}
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
                        <span className="muted small mono">{m.vendor_account_id}</span>
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
                        <span className="muted small" data-testid="no-match">
                          No PSA account with an active contract looks like it. Choose one by hand or, if the client has no contract in your
                          PSA yet, exclude it for now: it waits under Excluded to be mapped later.
                        </span>
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
                            onClick={() => change.mutate([{ vendor: m.vendor, vendor_account_id: m.vendor_account_id, action: "map", account_id: current }])}
                          >
                            Map
                          </button>
                          <button
                            type="button"
                            className="btn btn-ghost btn-small"
                            aria-label={`Exclude ${label}`}
                            title="Leave this vendor account's usage out of the cards; Unmap under Excluded brings it back"
                            disabled={change.isPending}
                            onClick={() => change.mutate([{ vendor: m.vendor, vendor_account_id: m.vendor_account_id, action: "exclude" }])}
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
                          onClick={() => change.mutate([{ vendor: m.vendor, vendor_account_id: m.vendor_account_id, action: "unmap" }])}
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
