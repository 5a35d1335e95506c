import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "../api";
import { useCardActions } from "../cardActions";
import { ago, day, money, qty, titleCase, when } from "../format";
import type { Card, CardDetails } from "../types";
import { ChangeEditor } from "./ChangeEditor";
import { ErrorBanner, Modal, Spinner, VendorTag } from "./ui";

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
                  <li key={`${va.vendor}:${va.vendor_account_id}`}>
                    <VendorTag vendor={va.vendor} /> {va.name} <span className="muted small mono">{va.vendor_account_id}</span>{" "}
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
                <tr key={`${c.vendor}:${c.vendor_account_id ?? ""}:${c.sku}`}>
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
        {decidable(current) ? (
          <>
            {current.state === "conflict" && (
              <p className="error-text" data-testid="conflict-note">
                {current.error ?? "The PSA changed since this card was computed; nothing was written."} Approve
                again to write the change against the quantity the PSA holds now, or dismiss the card.
              </p>
            )}
            <ChangeEditor data={data} card={current} isNew={isNew} currency={currency} onDone={onDone} />
          </>
        ) : (
          <StateActions card={current} onDone={onDone} />
        )}
      </section>
    </div>
  );
}

/** Whether the card takes a decision (approve or add, dismiss): as the server says when
 * it says, else a visible pending card. */
function decidable(card: Card): boolean {
  if (card.actions) return card.actions.includes("approve") || card.actions.includes("add");
  return card.state === "pending";
}

/** The actions a card that takes no decision offers: only those valid in its state. */
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
        </button>{" "}
        <button
          type="button"
          className="btn"
          onClick={() => {
            actions.dismiss(card);
            onDone();
          }}
        >
          Dismiss
        </button>
      </div>
    );
  }
  const said: Record<string, string> = {
    approved: "Approved: the change is being written to the PSA.",
    applied: "Applied: the PSA has the new quantity. The card returns next billing cycle if usage differs again.",
  };
  return (
    <div className="state-actions" data-testid="state-actions">
      <p>{said[card.state] ?? `This card is ${card.state}.`}</p>
    </div>
  );
}

