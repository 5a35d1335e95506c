import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { api, errorMessage, getItems, newIdempotencyKey, request } from "../api";
import { ago, day, money, num, qty, titleCase, tone, vendorsOf, when } from "../format";
import type { ActionAccepted, Card, CardDetails, ChangePreview, ChangeRequest, ContractOption, ProratedChange } from "../types";
import { useCardActions } from "../cards";
import { ErrorBanner, Modal, Spinner, VendorTag, useDebounced, useToasts } from "./ui";

const DECIMAL = /^\d+(\.\d+)?$/;

export function DetailsModal({ card, onClose }: { card: Card; onClose: () => void }) {
  const details = useQuery({
    queryKey: ["card", card.card_id],
    queryFn: ({ signal }) => api.get<CardDetails>(`/api/v1/cards/${encodeURIComponent(card.card_id)}`, signal),
  });
  const isNew = card.kind === "new_revenue" || Boolean(card.is_new);

  return (
    <Modal
      wide
      onClose={onClose}
      title={
        <>
          {isNew && <span className="tag tag-new">New</span>} {card.account_name}
          <span className="muted title-sub"> · {card.service_line}</span>
        </>
      }
    >
      <ErrorBanner error={details.error} onRetry={() => void details.refetch()} />
      {details.isPending ? (
        <Spinner label="Loading the contract" />
      ) : details.data ? (
        <DetailsBody data={details.data} card={card} isNew={isNew} onDone={onClose} />
      ) : null}
    </Modal>
  );
}

function DetailsBody({ data, card, isNew, onDone }: { data: CardDetails; card: Card; isNew: boolean; onDone: () => void }) {
  const current = data.card ?? card;
  const currency = current.currency ?? data.contract?.currency ?? "USD";
  return (
    <div className="quadrants">
      <section className="quadrant" aria-labelledby="q-contract">
        <h3 id="q-contract">Contract</h3>
        {data.contract ? (
          <dl className="facts">
            <dt>Contract</dt>
            <dd>
              {data.contract.psa_url ? (
                <a href={data.contract.psa_url} target="_blank" rel="noreferrer">
                  {data.contract.name}
                </a>
              ) : (
                data.contract.name
              )}
            </dd>
            <dt>PSA ids</dt>
            <dd className="mono">
              contract {data.contract.contract_id}
              {current.line_item_id ? ` · line ${current.line_item_id}` : ""}
              {current.account_id ? ` · account ${current.account_id}` : ""}
            </dd>
            <dt>Term</dt>
            <dd>
              {day(data.contract.start_date)} – {data.contract.end_date ? day(data.contract.end_date) : "open-ended"}
            </dd>
            <dt>Status</dt>
            <dd>{titleCase(data.contract.status)}</dd>
            <dt>Frequency</dt>
            <dd>
              {titleCase(data.contract.billing_cycle)}
              {data.contract.bill_in_advance ? ", in advance" : ", in arrears"}
            </dd>
            <dt>Quantity</dt>
            <dd>
              PSA {qty(current.psa_quantity)} · vendor {qty(current.vendor_quantity)}
            </dd>
            <dt>Price / cost</dt>
            <dd>
              {money(current.unit_price, currency)} / {money(current.unit_cost, currency)} per unit
            </dd>
            <dt>Proration</dt>
            <dd>{data.contract.proration_allowed ? "Allowed" : "Not supported by this contract"}</dd>
          </dl>
        ) : (
          <p className="muted">
            {isNew
              ? "This usage is not billed on any PSA contract yet. Pick the contract to add it to."
              : "No contract details were returned."}
          </p>
        )}
      </section>

      <section className="quadrant" aria-labelledby="q-history">
        <h3 id="q-history">Past actions</h3>
        {data.past_actions.length === 0 ? (
          <p className="muted">No action has been taken on this contract from TrueUp yet.</p>
        ) : (
          <ol className="timeline">
            {data.past_actions.slice(0, 8).map((entry) => (
              <li key={entry.entry_id}>
                <div className="timeline-head">
                  <strong>{titleCase(entry.action_type)}</strong>
                  {entry.outcome && <span className={`pill pill-${entry.outcome}`}>{entry.outcome}</span>}
                </div>
                <div className="small">{entry.summary}</div>
                <div className="muted small">
                  {when(entry.occurred_at)} · {entry.actor?.name ?? entry.actor?.id ?? "system"}
                </div>
              </li>
            ))}
          </ol>
        )}
      </section>

      <section className="quadrant" aria-labelledby="q-names">
        <h3 id="q-names">Names and mapping</h3>
        <dl className="facts">
          <dt>PSA account</dt>
          <dd>{data.names.psa_account_name || "—"}</dd>
          <dt>PSA contract</dt>
          <dd>{data.names.psa_contract_name || "—"}</dd>
          <dt>Vendor accounts</dt>
          <dd>
            {data.names.vendor_accounts.length === 0 ? (
              <span className="muted">none mapped</span>
            ) : (
              <ul className="plain">
                {data.names.vendor_accounts.map((va) => (
                  <li key={`${va.vendor}:${va.vendor_account}`}>
                    <VendorTag vendor={va.vendor} /> {va.name} <span className="muted small mono">{va.vendor_account}</span>{" "}
                    <span className="pill">{va.mapping}</span>
                  </li>
                ))}
              </ul>
            )}
          </dd>
          <dt>PSA synced</dt>
          <dd title={data.names.psa_synced_at ?? ""}>{ago(data.names.psa_synced_at)}</dd>
          <dt>Usage as of</dt>
          <dd title={data.names.usage_as_of ?? ""}>
            {ago(data.names.usage_as_of)} {current.stale && <span className="tag tag-stale">Stale</span>}
          </dd>
        </dl>
        {data.change.contributions.length > 0 && (
          <table className="mini-table">
            <caption className="visually-hidden">Usage that makes up the vendor quantity</caption>
            <thead>
              <tr>
                <th scope="col">Vendor</th>
                <th scope="col">SKU</th>
                <th scope="col" className="num">
                  Usage
                </th>
                <th scope="col" className="num">
                  Units
                </th>
              </tr>
            </thead>
            <tbody>
              {data.change.contributions.map((c) => (
                <tr key={`${c.vendor}:${c.vendor_account ?? ""}:${c.sku}`}>
                  <td>{c.vendor}</td>
                  <td className="mono small">{c.sku}</td>
                  <td className="num">{qty(c.vendor_quantity)}</td>
                  <td className="num">{qty(c.quantity)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section className="quadrant quadrant-change" aria-labelledby="q-change">
        <h3 id="q-change">{isNew ? "Add to a contract" : "Change"}</h3>
        {current.state === "pending" ? (
          <ChangeEditor data={data} card={current} isNew={isNew} currency={currency} onDone={onDone} />
        ) : (
          <StateActions card={current} onDone={onDone} />
        )}
      </section>
    </div>
  );
}

function ChangeEditor({
  data,
  card,
  isNew,
  currency,
  onDone,
}: {
  data: CardDetails;
  card: Card;
  isNew: boolean;
  currency: string;
  onDone: () => void;
}) {
  const client = useQueryClient();
  const toasts = useToasts();
  // The card's own target, so that Details approves exactly what the card's Approve would.
  const [quantity, setQuantity] = useState(
    data.change.target_quantity ?? data.change.vendor_quantity ?? card.target_quantity ?? "0",
  );
  const [confirmed, setConfirmed] = useState(false);
  const [price, setPrice] = useState(data.change.unit_price ?? card.unit_price ?? "");
  const [cost, setCost] = useState(data.change.unit_cost ?? card.unit_cost ?? "");
  const [effective, setEffective] = useState(data.change.default_effective_date);
  const [prorated, setProrated] = useState<ProratedChange[]>([]);
  const [contractId, setContractId] = useState("");

  const contracts = useQuery({
    queryKey: ["contracts", card.account_id],
    enabled: isNew && Boolean(card.account_id),
    queryFn: ({ signal }) =>
      getItems<ContractOption>(`/api/v1/accounts/${encodeURIComponent(card.account_id ?? "")}/contracts`, signal),
  });
  useEffect(() => {
    const first = contracts.data?.[0];
    if (first && !contractId) setContractId(first.contract_id);
  }, [contracts.data, contractId]);

  const prorationAllowed = data.change.proration_allowed;
  const invalid =
    !DECIMAL.test(quantity) ||
    (isNew && ((price !== "" && !DECIMAL.test(price)) || (cost !== "" && !DECIMAL.test(cost)))) ||
    prorated.some((p) => !p.effective_date || !DECIMAL.test(p.quantity));

  const body: ChangeRequest = useMemo(
    () => ({
      quantity,
      effective_date: effective,
      ...(prorated.length ? { prorated_changes: prorated } : {}),
    }),
    [quantity, effective, prorated],
  );

  const debounced = useDebounced(body, 300);
  const preview = useQuery<ChangePreview>({
    queryKey: ["preview", card.card_id, debounced],
    enabled: !invalid,
    placeholderData: (previous) => previous,
    retry: false,
    queryFn: ({ signal }) => fetchPreview(card.card_id, debounced, signal),
  });
  const large = preview.data?.large_change ?? null;
  const needsConfirm = Boolean(large) && !confirmed;

  const submit = useMutation({
    mutationFn: () => {
      const path = `/api/v1/cards/${encodeURIComponent(card.card_id)}`;
      const headers = { "Idempotency-Key": newIdempotencyKey() };
      if (isNew) {
        return api.post<ActionAccepted>(
          `${path}/add`,
          {
            contract_id: contractId,
            quantity,
            ...(price ? { unit_price: price } : {}),
            ...(cost ? { unit_cost: cost } : {}),
            effective_date: effective,
            prorate: prorationAllowed,
            ...(large ? { confirm: true } : {}),
          },
          headers,
        );
      }
      return api.post<ActionAccepted>(`${path}/approve`, { ...body, ...(large ? { confirm: true } : {}) }, headers);
    },
    onSuccess: () => {
      toasts.push({
        message: isNew
          ? `Added ${qty(quantity)} × ${card.service_line} to ${card.account_name}`
          : `Approved ${card.account_name} · ${card.service_line}: ${stepsText(card.psa_quantity, preview.data?.steps, quantity)}`,
        tone: "success",
      });
      void client.invalidateQueries({ queryKey: ["cards"] });
      void client.invalidateQueries({ queryKey: ["metrics"] });
      onDone();
    },
  });

  const suppress = useMutation({
    mutationFn: () =>
      api.patch<void>(`/api/v1/accounts/${encodeURIComponent(card.account_id ?? "")}`, { suppress_new_revenue: true }),
    onSuccess: () => {
      toasts.push({ message: `New revenue cards for ${card.account_name} will no longer be shown`, tone: "success" });
      void client.invalidateQueries({ queryKey: ["cards"] });
      onDone();
    },
    onError: (error) => toasts.push({ message: errorMessage(error), tone: "error" }),
  });

  const p = preview.data;
  return (
    <form
      className="change-form"
      onSubmit={(event) => {
        event.preventDefault();
        if (!invalid) submit.mutate();
      }}
    >
      {isNew && (
        <div className="field">
          <label htmlFor="add-contract">Contract</label>
          <select id="add-contract" value={contractId} onChange={(event) => setContractId(event.target.value)} required>
            {!card.account_id && <option value="">Map the vendor account first</option>}
            {contracts.data?.length === 0 && <option value="">This account has no active contract</option>}
            {contracts.data?.map((c) => (
              <option key={c.contract_id} value={c.contract_id}>
                {c.name} ({c.billing_cycle})
              </option>
            ))}
          </select>
          {contracts.error ? <div className="error-text">{errorMessage(contracts.error)}</div> : null}
        </div>
      )}
      <div className="field-row">
        <div className="field">
          <label htmlFor="change-quantity">{isNew ? "Quantity" : "New quantity"}</label>
          <input
            id="change-quantity"
            inputMode="decimal"
            value={quantity}
            aria-invalid={!DECIMAL.test(quantity)}
            onChange={(event) => setQuantity(event.target.value.trim())}
          />
          <div className="hint">
            Vendor {qty(data.change.vendor_quantity)} · PSA {qty(data.change.psa_quantity)}
          </div>
          {data.change.shared_with.length > 0 && <SplitNote data={data} card={card} />}
        </div>
        <div className="field">
          <label htmlFor="change-effective">Effective date</label>
          <input id="change-effective" type="date" value={effective} onChange={(event) => setEffective(event.target.value)} />
          <div className="hint">
            {data.contract?.dated_changes === false
              ? "This PSA changes quantities from today; a later date cannot be scheduled"
              : "Forward- or back-date the change"}
          </div>
          {!prorationAllowed && (
            <div className="hint proration-note" data-testid="no-proration-note">
              No proration on this contract: a date inside a billing period takes effect from the start of the next
              period, with no part-period charge.
            </div>
          )}
        </div>
      </div>
      <div className="field-row">
        <div className="field">
          <label htmlFor="change-price">Unit price (PSA)</label>
          <input
            id="change-price"
            inputMode="decimal"
            value={price}
            readOnly={!isNew}
            onChange={(event) => setPrice(event.target.value.trim())}
          />
        </div>
        <div className="field">
          <label htmlFor="change-cost">Unit cost</label>
          <input
            id="change-cost"
            inputMode="decimal"
            value={cost}
            readOnly={!isNew}
            onChange={(event) => setCost(event.target.value.trim())}
          />
        </div>
      </div>

      {!isNew && (
        <fieldset className="prorated">
          <legend>Prorated changes</legend>
          {!prorationAllowed && <p className="muted small">This contract does not support prorated billing.</p>}
          {prorated.map((line, index) => (
            <div className="prorated-row" key={index}>
              <label className="visually-hidden" htmlFor={`pr-date-${index}`}>
                Prorated change {index + 1} effective date
              </label>
              <input
                id={`pr-date-${index}`}
                type="date"
                value={line.effective_date}
                onChange={(event) =>
                  setProrated((list) => list.map((l, i) => (i === index ? { ...l, effective_date: event.target.value } : l)))
                }
              />
              <label className="visually-hidden" htmlFor={`pr-qty-${index}`}>
                Prorated change {index + 1} quantity
              </label>
              <input
                id={`pr-qty-${index}`}
                inputMode="decimal"
                placeholder="Quantity"
                value={line.quantity}
                aria-invalid={!DECIMAL.test(line.quantity)}
                onChange={(event) =>
                  setProrated((list) => list.map((l, i) => (i === index ? { ...l, quantity: event.target.value.trim() } : l)))
                }
              />
              <button
                type="button"
                className="icon-button"
                aria-label={`Remove prorated change ${index + 1}`}
                onClick={() => setProrated((list) => list.filter((_, i) => i !== index))}
              >
                ×
              </button>
            </div>
          ))}
          <button
            type="button"
            className="btn btn-small"
            disabled={!prorationAllowed}
            onClick={() =>
              // A step a week after the last one: two steps on one date would be refused.
              setProrated((list) => [
                ...list,
                { effective_date: addDays(list.at(-1)?.effective_date ?? effective, 7), quantity: list.at(-1)?.quantity ?? quantity ?? "0" },
              ])
            }
          >
            Add prorated change
          </button>
        </fieldset>
      )}

      <div className="change-summary" aria-live="polite" aria-busy={preview.isFetching}>
        <h4>Summary of change</h4>
        {invalid ? (
          <p className="error-text">Enter quantities as plain numbers (for example 27 or 2.5).</p>
        ) : preview.error ? (
          <p className="error-text">{errorMessage(preview.error)}</p>
        ) : p ? (
          <>
            <dl className="summary-grid">
              <div>
                <dt>Revenue</dt>
                <dd className={`delta-${tone(p.revenue_change)}`} data-testid="preview-revenue">
                  {money(p.revenue_change, currency, true)}
                </dd>
              </div>
              <div>
                <dt>Cost</dt>
                <dd>{money(p.cost_change, currency, true)}</dd>
              </div>
              <div>
                <dt>Profit</dt>
                <dd className={`delta-${tone(p.profit_change)}`} data-testid="preview-profit">
                  {money(p.profit_change, currency, true)}
                </dd>
              </div>
              <div>
                <dt>MRR</dt>
                <dd>{money(p.mrr_change, currency, true)}</dd>
              </div>
            </dl>
            {p.steps.length > 0 && (
              <p className="small" data-testid="preview-steps">
                Writes to the PSA:{" "}
                {p.steps.map((step, i) => (
                  <span key={step.effective_date}>
                    {i === 0 ? qty(step.quantity_before) : ""} → <strong>{qty(step.quantity_after)}</strong> from{" "}
                    {day(step.effective_date)}
                  </span>
                ))}
              </p>
            )}
            {p.lines.length > 0 && (
              <table className="mini-table">
                <caption className="visually-hidden">Prorated lines of this change</caption>
                <thead>
                  <tr>
                    <th scope="col">Period</th>
                    <th scope="col" className="num">
                      Qty
                    </th>
                    <th scope="col" className="num">
                      Days
                    </th>
                    <th scope="col" className="num">
                      Revenue
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {p.lines.map((line, i) => (
                    <tr key={i}>
                      <td>
                        {day(line.period_start)} – {day(line.period_end)}
                      </td>
                      <td className="num">
                        {qty(line.quantity_before)} → {qty(line.quantity_after)}
                      </td>
                      <td className="num">{line.days}</td>
                      <td className="num">{money(line.revenue, currency, true)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {p.margin !== null && p.margin !== undefined && (
              <p className="muted small">Margin after the change: {(num(p.margin) * (num(p.margin) <= 1 ? 100 : 1)).toFixed(1)} %</p>
            )}
          </>
        ) : (
          <p className="muted small">{preview.isFetching ? "Calculating…" : "Change a value to see its effect."}</p>
        )}
      </div>

      {large && (
        <div className="banner banner-warning" role="alert" data-testid="large-change">
          <strong>Large change:</strong> {large}.
          <label className="confirm-large">
            <input type="checkbox" checked={confirmed} onChange={(event) => setConfirmed(event.target.checked)} /> I have
            checked this change and want to write it to the PSA
          </label>
        </div>
      )}
      {submit.error && (
        <div className="banner banner-error" role="alert">
          {errorMessage(submit.error)}
        </div>
      )}
      <div className="form-actions">
        {isNew && card.account_id && (
          <button type="button" className="btn btn-ghost btn-small" disabled={suppress.isPending} onClick={() => suppress.mutate()}>
            Stop showing new revenue for {card.account_name}
          </button>
        )}
        <button
          type="submit"
          className="btn btn-primary"
          disabled={invalid || needsConfirm || submit.isPending || (isNew && !contractId)}
        >
          {submit.isPending ? "Sending…" : isNew ? "Add to contract" : "Approve change"}
        </button>
        <span className="muted small">
          {vendorsOf(card).map((v) => (
            <VendorTag key={v} vendor={v} />
          ))}
        </span>
      </div>
    </form>
  );
}

/** The actions a card that is no longer pending offers: only those valid in its state. */
function StateActions({ card, onDone }: { card: Card; onDone: () => void }) {
  const actions = useCardActions();
  const [busy, setBusy] = useState(false);
  if (card.state === "dismissed") {
    return (
      <div className="state-actions" data-testid="state-actions">
        <p>Dismissed: no change is made this billing cycle, and the card is hidden until the next one.</p>
        <button
          type="button"
          className="btn btn-primary"
          disabled={busy}
          onClick={() => {
            setBusy(true);
            void actions.restore(card).then(onDone);
          }}
        >
          Restore card
        </button>
      </div>
    );
  }
  if (card.state === "failed") {
    return (
      <div className="state-actions" data-testid="state-actions">
        <p className="error-text">Writing to the PSA failed: {card.error ?? "no reason given"}</p>
        <button
          type="button"
          className="btn btn-primary"
          onClick={() => {
            actions.retry(card);
            onDone();
          }}
        >
          Retry the write
        </button>
      </div>
    );
  }
  const said: Record<string, string> = {
    approved: "Approved: the change is being written to the PSA.",
    applied: "Applied: the PSA has the new quantity. The card returns next billing cycle if usage differs again.",
    conflict: card.error ?? "The PSA changed since this card was computed; nothing was written.",
  };
  return (
    <div className="state-actions" data-testid="state-actions">
      <p>{said[card.state] ?? `This card is ${card.state}.`}</p>
    </div>
  );
}

function addDays(isoDate: string, days: number): string {
  const moment = new Date(`${isoDate}T00:00:00Z`);
  if (Number.isNaN(moment.getTime())) return isoDate;
  moment.setUTCDate(moment.getUTCDate() + days);
  return moment.toISOString().slice(0, 10);
}

/** "20 → 45 → 48 → 50": every quantity an approval passes through, as the PSA receives it. */
export function stepsText(before: string | null, steps: { quantity_after: string }[] | undefined, fallback: string): string {
  const after = steps && steps.length > 0 ? steps.map((s) => s.quantity_after) : [fallback];
  return [before, ...after].map((q) => qty(q)).join(" → ");
}

/** Why this line item's target differs from the vendor's count: the usage is shared. */
function SplitNote({ data, card }: { data: CardDetails; card: Card }) {
  const others = data.change.shared_with;
  const carries = card.carries_difference !== false;
  return (
    <div className="hint split-note" data-testid="split-note">
      {carries && num(data.change.billed_elsewhere) >= num(data.change.vendor_quantity) ? (
        <>
          All {qty(data.change.vendor_quantity)} in use are already billed on{" "}
          {others.map((o) => `${o.contract_name} (${qty(o.psa_quantity)})`).join(", ")}, so this line item's target is{" "}
          <strong>{qty(data.change.target_quantity)}</strong> (a line item cannot bill less than none).
        </>
      ) : carries ? (
        <>
          {qty(data.change.vendor_quantity)} in use less {qty(data.change.billed_elsewhere)} billed on{" "}
          {others.map((o) => `${o.contract_name} (${qty(o.psa_quantity)})`).join(", ")} ={" "}
          <strong>{qty(data.change.target_quantity)}</strong> on this line item.
        </>
      ) : (
        <>
          This usage is shared with {others.map((o) => `${o.contract_name} (${qty(o.psa_quantity)})`).join(", ")}; that line
          item carries the difference, so this one keeps {qty(data.change.psa_quantity)}.
        </>
      )}
    </div>
  );
}

function fetchPreview(cardId: string, body: ChangeRequest, signal: AbortSignal): Promise<ChangePreview> {
  return request<ChangePreview>(`/api/v1/cards/${encodeURIComponent(cardId)}/preview`, { method: "POST", body, signal });
}
