import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { api } from "../../api";
import { fetchAllCards } from "../../cards";
import { money, moneyList, num, perPeriod, qty, tone } from "../../format";
import { navigate } from "../../router";
import type { ImportView } from "../../types";
import { ImportResultEmpty } from "../UnmappedWaiting";
import { ErrorBanner, Spinner } from "../ui";

const FINAL_STATES = new Set(["completed", "failed", "unchanged"]);

export default function ProgressStep({
  id,
  vendor,
  showChanges,
  onFinished,
  onAnother,
}: {
  id: string;
  vendor: string;
  showChanges: boolean;
  onFinished: () => void;
  onAnother: () => void;
}) {
  const client = useQueryClient();
  const status = useQuery({
    queryKey: ["import", id],
    queryFn: ({ signal }) => api.get<ImportView>(`/api/v1/imports/${encodeURIComponent(id)}?usage_limit=200`, signal),
    refetchInterval: (query) => (query.state.data && FINAL_STATES.has(query.state.data.status) ? false : 1000),
  });
  const done = status.data ? FINAL_STATES.has(status.data.status) : false;
  useEffect(() => {
    if (done) {
      void client.invalidateQueries({ queryKey: ["cards"] });
      void client.invalidateQueries({ queryKey: ["unmapped"] });
      onFinished();
    }
  }, [done, client, onFinished]);

  const changed = useQuery({
    queryKey: ["cards", { vendor, after: id }],
    enabled: done && showChanges,
    queryFn: ({ signal }) => fetchAllCards(vendor ? { vendor, state: "pending" } : { state: "pending" }, signal),
  });

  const s = status.data;
  const counts = s?.counts;
  const percent = done ? 100 : Math.max(5, s?.progress_percent ?? 0);
  const cards = (changed.data?.items ?? []).filter((c) => c.kind !== "no_change");
  // The server's totals of the same cards: one monthly figure per currency, never a sum of two.
  const toReview = (changed.data?.totals?.by_currency ?? [])
    .filter((row) => num(row.mrr_change) !== 0)
    .map((row) => ({ currency: row.currency, amount: row.mrr_change, cards: row.cards }));

  return (
    <div>
      <h2 className="step-title">{done ? (s?.status === "failed" ? "The import failed" : "Import finished") : "Importing…"}</h2>
      <ErrorBanner error={status.error} />
      <div className="progress" role="progressbar" aria-label="Import progress" aria-valuenow={percent} aria-valuemin={0} aria-valuemax={100}>
        <div className={`progress-bar${s?.status === "failed" ? " progress-failed" : ""}`} style={{ width: `${percent}%` }} />
      </div>
      {s && (
        <dl className="stat-row" data-testid="import-counts">
          <div>
            <dt>Rows read</dt>
            <dd>{counts?.rows_read ?? 0}</dd>
          </div>
          <div>
            <dt>Imported</dt>
            <dd>{counts?.rows_imported ?? 0}</dd>
          </div>
          <div>
            <dt>Invalid, skipped</dt>
            <dd>{counts?.rows_skipped_invalid ?? 0}</dd>
          </div>
          <div>
            <dt>Filtered out</dt>
            <dd>{counts?.rows_filtered_out ?? 0}</dd>
          </div>
          <div>
            <dt>Totals rows ignored</dt>
            <dd>{counts?.totals_rows_ignored ?? 0}</dd>
          </div>
        </dl>
      )}
      {done && s && s.usage.length > 0 && (
        <details className="more">
          <summary>
            Usage from this file ({s.usage_total} vendor account and SKU pair{s.usage_total === 1 ? "" : "s"})
          </summary>
          <div className="preview-scroller">
            <table className="mini-table">
              <thead>
                <tr>
                  <th scope="col">Vendor account</th>
                  <th scope="col">SKU</th>
                  <th scope="col" className="num">
                    Quantity
                  </th>
                </tr>
              </thead>
              <tbody>
                {s.usage.map((u) => (
                  <tr key={`${u.vendor_account_id}:${u.sku}`}>
                    <td>{u.vendor_account_name || u.vendor_account_id}</td>
                    <td>{u.sku_name || u.sku}</td>
                    <td className="num">{qty(u.quantity)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </details>
      )}
      {s?.status === "unchanged" && <p className="banner banner-info">This file was imported before: nothing changed.</p>}
      {s?.error && (
        <p className="banner banner-error" role="alert">
          {s.error}
        </p>
      )}
      {done && showChanges && (
        <section aria-labelledby="changed-cards">
          <h3 id="changed-cards">Cards to review{vendor ? ` for ${vendor}` : ""}</h3>
          {changed.isPending ? (
            <Spinner label="Loading cards" />
          ) : cards.length === 0 ? (
            <ImportResultEmpty vendor={vendor} usage={s?.usage ?? []} />
          ) : (
            <table className="mini-table" data-testid="changed-cards">
              <thead>
                <tr>
                  <th scope="col">Account</th>
                  <th scope="col">Service line</th>
                  <th scope="col" className="num">
                    PSA → vendor
                  </th>
                  <th scope="col" className="num">
                    MRR
                  </th>
                </tr>
              </thead>
              <tbody>
                {cards.slice(0, 25).map((c) => (
                  <tr key={c.card_id}>
                    <td>
                      {(c.kind === "new_revenue" || c.is_new) && <span className="tag tag-new">New</span>} {c.account_name}
                    </td>
                    <td>{c.service_line}</td>
                    <td className="num">
                      {qty(c.psa_quantity)} → {qty(c.vendor_quantity)}
                    </td>
                    <td
                      className={`num delta-${tone(c.mrr_change)}`}
                      title={(c.period_months ?? 1) > 1 ? `${money(c.period_change, c.currency ?? "USD", true)} ${perPeriod(c.billing_cycle)}` : undefined}
                    >
                      {money(c.mrr_change, c.currency ?? "USD", true)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <p className="muted small">
            {cards.length > 25 ? `and ${cards.length - 25} more · ` : ""}
            {toReview.length > 0 && <span data-testid="import-mrr">{moneyList(toReview)} monthly revenue to review</span>}
          </p>
          <div className="step-actions">
            <button type="button" className="btn" onClick={onAnother}>
              Import another file
            </button>
            <button type="button" className="btn" onClick={() => navigate("/mapping")}>
              Map accounts
            </button>
            <button type="button" className="btn btn-primary" onClick={() => navigate("/")}>
              Review the cards
            </button>
          </div>
        </section>
      )}
    </div>
  );
}
