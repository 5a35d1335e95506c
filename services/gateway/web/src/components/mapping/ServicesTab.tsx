import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { api, errorMessage, getItems, isNotFound, itemsOf } from "../../api";
import type { ServiceLine, ServiceLineSuggestion, ServiceMapping, ServiceMappingList } from "../../types";
import { EmptyState, ErrorBanner, NotYet, Spinner, VendorTag, useToasts } from "../ui";
import AcceptAll, { type AcceptAllSubject } from "./AcceptAll";
import { counted, preselected, scoreClass, scoreText, skuStatus, thresholdOf, type SkuStatus } from "./scores";

const skuKey = (m: { vendor: string; sku: string }) => `${m.vendor}\u0000${m.sku}`;

const SKUS: AcceptAllSubject<ServiceMapping, ServiceLineSuggestion> = {
  one: "vendor SKU",
  many: "vendor SKUs",
  to: "service line",
  risk: "a wrong one counts this SKU's usage against another service's contract lines.",
  keyOf: skuKey,
  source: (m) => (
    <span className="cell-stack">
      <span>
        <VendorTag vendor={m.vendor} /> {m.sku_name || m.sku}
      </span>
      <span className="muted small mono">{m.sku}</span>
    </span>
  ),
  target: (s) => s.service_line,
};

const waits = (m: ServiceMapping) => skuStatus(m) === "unmapped";

function putMapping(m: ServiceMapping) {
  return api.put<ServiceMapping>("/api/v1/mappings/services", {
    vendor: m.vendor,
    sku: m.sku,
    service_line_id: m.service_line_id,
    factor: m.factor,
    rounding: m.rounding,
    excluded: m.excluded,
  });
}

/** Some of an "Accept all" were saved before one failed: the toast says how many. */
class PartlySaved extends Error {
  constructor(
    readonly saved: number,
    readonly cause: unknown,
  ) {
    super(errorMessage(cause));
  }
}

export default function ServicesTab() {
  const client = useQueryClient();
  const toasts = useToasts();
  const [status, setStatus] = useState<SkuStatus | "all">("unmapped");
  const [filter, setFilter] = useState("");
  const services = useQuery({
    queryKey: ["mappings", "services"],
    queryFn: ({ signal }) => api.get<ServiceMappingList | ServiceMapping[]>("/api/v1/mappings/services", signal),
  });
  const threshold = thresholdOf(services.data ?? undefined);
  const skus = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    return itemsOf(services.data).filter(
      (m) =>
        (status === "all" || skuStatus(m) === status) &&
        (!needle || `${m.sku_name} ${m.sku} ${m.service_line ?? ""}`.toLowerCase().includes(needle)),
    );
  }, [services.data, status, filter]);
  const lines = useQuery({
    queryKey: ["service-lines"],
    queryFn: ({ signal }) => getItems<ServiceLine>("/api/v1/service-lines", signal),
  });
  const [drafts, setDrafts] = useState<Record<string, Partial<ServiceMapping>>>({});

  const refresh = () => {
    void client.invalidateQueries({ queryKey: ["mappings"] });
    void client.invalidateQueries({ queryKey: ["unmapped"] });
    void client.invalidateQueries({ queryKey: ["cards"] });
  };
  const forget = (saved: ServiceMapping[]) =>
    setDrafts((d) => {
      const next = { ...d };
      for (const m of saved) delete next[skuKey(m)];
      return next;
    });

  const save = useMutation({
    mutationFn: putMapping,
    onSuccess: (_, m) => {
      toasts.push({ message: `Saved ${m.sku_name || m.sku}`, tone: "success" });
      forget([m]);
      refresh();
    },
    onError: (error) => toasts.push({ message: errorMessage(error), tone: "error" }),
  });

  // "Accept all": one save per SKU (each is its own audited mapping change), one after the
  // other so that a failure stops the rest and says how far it got.
  const saveAll = useMutation({
    mutationFn: async (items: ServiceMapping[]) => {
      let saved = 0;
      try {
        for (const m of items) {
          await putMapping(m);
          saved += 1;
        }
      } catch (error) {
        throw new PartlySaved(saved, error);
      }
      return saved;
    },
    onSuccess: (saved, items) => {
      toasts.push({ message: `Mapped ${counted(saved, "vendor SKU", "vendor SKUs")}`, tone: "success" });
      forget(items);
      refresh();
    },
    onError: (error, items) => {
      const saved = error instanceof PartlySaved ? error.saved : 0;
      toasts.push({ message: `Mapped ${saved} of ${counted(items.length, "vendor SKU", "vendor SKUs")}: ${error.message}`, tone: "error" });
      forget(items.slice(0, saved));
      refresh();
    },
  });
  const busy = save.isPending || saveAll.isPending;

  const saveLine = useMutation({
    mutationFn: ({ id, patch }: { id: string; patch: Partial<ServiceLine> }) => api.patch<ServiceLine>(`/api/v1/service-lines/${encodeURIComponent(id)}`, patch),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["service-lines"] }),
    onError: (error) => toasts.push({ message: errorMessage(error), tone: "error" }),
  });

  if (services.error && isNotFound(services.error)) return <NotYet what="Service mapping" />;

  return (
    <div className="stack">
      <div className="toolbar">
        <label className="visually-hidden" htmlFor="sku-filter">
          Search vendor SKUs
        </label>
        <input id="sku-filter" type="search" placeholder="Search vendor SKUs…" value={filter} onChange={(e) => setFilter(e.target.value)} />
        <label className="visually-hidden" htmlFor="sku-status">
          Status
        </label>
        <select id="sku-status" value={status} onChange={(e) => setStatus(e.target.value as SkuStatus | "all")}>
          <option value="unmapped">Unmapped</option>
          <option value="mapped">Mapped</option>
          <option value="excluded">Excluded</option>
          <option value="all">All</option>
        </select>
        <span className="toolbar-spacer" />
        <AcceptAll
          id="sku-accept-at"
          rows={skus}
          waits={waits}
          threshold={threshold}
          subject={SKUS}
          busy={busy}
          onAccept={(pairs) => saveAll.mutateAsync(pairs.map(({ mapping: m, suggestion: s }) => ({ ...m, service_line_id: s.service_line_id })))}
        />
      </div>
      <ErrorBanner error={services.error} onRetry={() => void services.refetch()} />
      {services.isPending ? (
        <Spinner />
      ) : skus.length === 0 && !services.isError ? (
        filter.trim() ? (
          <EmptyState title="No vendor SKU matches" />
        ) : status === "unmapped" ? (
          <EmptyState title="Every vendor SKU is mapped">
            Vendor SKUs appear here when usage arrives for one that feeds no service line yet.
          </EmptyState>
        ) : status === "all" ? (
          <EmptyState title="No vendor SKU yet">SKUs appear here once a vendor reports usage for them.</EmptyState>
        ) : (
          <EmptyState title="No vendor SKU here" />
        )
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
                const key = skuKey(original);
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
                        ) : !m.service_line_id && !m.excluded ? (
                          <span className="muted small" data-testid="no-match">
                            No service line looks like it: choose one, or exclude the SKU if you do not bill it.
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
                        title="How a vendor count times the units per SKU becomes whole PSA units; Exact keeps fractions"
                        value={m.rounding}
                        onChange={(e) => set({ rounding: e.target.value as ServiceMapping["rounding"] })}
                      >
                        <option value="up">Up</option>
                        <option value="half_up">Nearest</option>
                        <option value="down">Down</option>
                        <option value="exact">Exact</option>
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
                        disabled={!dirty || busy || !/^\d+(\.\d+)?$/.test(m.factor)}
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
