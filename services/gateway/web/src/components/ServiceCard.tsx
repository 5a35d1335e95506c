import type { ReactNode } from "react";
import { VendorTag } from "./ui";
import { ago, money, num, perPeriod, qty, tone, vendorsOf } from "../format";
import type { Card } from "../types";

/**
 * One card of the card view. `data-money` marks every figure that must never be clipped.
 * Without `onApprove` and `onDismiss` the card is read-only (a closed cycle's): only its
 * details open, and `note` says what was done with it.
 */
export function ServiceCard({
  card,
  onApprove,
  onDetails,
  onDismiss,
  onRetry,
  note,
}: {
  card: Card;
  onApprove?: () => void;
  onDetails: () => void;
  onDismiss?: () => void;
  onRetry?: () => void;
  note?: ReactNode;
}) {
  const isNew = card.kind === "new_revenue" || card.is_new;
  const currency = card.currency ?? "USD";
  const failed = card.state === "failed" || card.state === "conflict";
  const title = `${card.account_name}, ${card.service_line}`;
  return (
    <article
      className={`card${isNew ? " card-new" : ""}${failed ? " card-failed" : ""}`}
      aria-label={title}
      data-card-id={card.card_id}
      // Focusable so j/k can move between cards and a/d/Enter act on the focused one.
      tabIndex={-1}
    >
      <header className="card-head">
        <div className="card-tags">
          {isNew && <span className="tag tag-new">New</span>}
          {vendorsOf(card).map((v) => (
            <VendorTag key={v} vendor={v} />
          ))}
          {card.stale && (
            <span className="tag tag-stale" title="The vendor's usage has not been refreshed recently">
              Stale
            </span>
          )}
          {failed && <span className="tag tag-failed">{card.state === "conflict" ? "Conflict" : "Write-back failed"}</span>}
        </div>
        <span className="freshness small muted" title={card.usage_as_of ?? card.updated_at}>
          {ago(card.usage_as_of ?? card.updated_at)}
        </span>
      </header>
      <h3 className="card-account" title={card.account_name}>
        {card.account_name}
      </h3>
      <p className="card-contract muted small">{isNew ? "No PSA contract line yet" : card.contract_name || "—"}</p>

      <div className="qty-row">
        <div className="qty">
          <span className="qty-label">PSA</span>
          <span className="qty-value">{qty(card.psa_quantity)}</span>
        </div>
        <span className="qty-arrow" aria-hidden="true">
          →
        </span>
        <div className="qty">
          <span className="qty-label">Vendor</span>
          <span className="qty-value">{qty(card.vendor_quantity)}</span>
        </div>
        <div className={`qty-delta delta-${tone(card.delta)}`} aria-label={`Change ${qty(card.delta, true)}`}>
          {qty(card.delta, true)}
        </div>
      </div>

      {card.target_quantity != null && card.vendor_quantity != null && num(card.target_quantity) !== num(card.vendor_quantity) && (
        <p className="small muted target-note" data-testid="target-note">
          {card.carries_difference === false ? (
            <>
              Usage shared with another line item of this account, which carries the difference: this one keeps{" "}
              <strong>{qty(card.psa_quantity)}</strong>
            </>
          ) : num(card.billed_elsewhere) >= num(card.vendor_quantity) ? (
            <>
              All {qty(card.vendor_quantity)} in use are billed on other line items ({qty(card.billed_elsewhere)}): approving
              bills <strong>{qty(card.target_quantity)}</strong> here
            </>
          ) : num(card.billed_elsewhere) > 0 ? (
            <>
              {qty(card.vendor_quantity)} in use − {qty(card.billed_elsewhere)} billed on other line items: approving bills{" "}
              <strong>{qty(card.target_quantity)}</strong> here
            </>
          ) : (
            <>
              Approving bills <strong>{qty(card.target_quantity)}</strong>
            </>
          )}
        </p>
      )}
      {card.large_change && (
        <p className="small large-note" data-testid="large-note">
          <span className="tag tag-large">Large change</span> {card.large_change}: approving asks for a confirmation
        </p>
      )}

      <dl className="effect">
        <div>
          <dt>MRR</dt>
          <dd className={`delta-${tone(card.mrr_change)}`} data-testid="card-mrr" data-money>
            {money(card.mrr_change, currency, true)}
          </dd>
        </div>
        <div>
          <dt>Profit / mo</dt>
          <dd className={`delta-${tone(card.mrr_profit_change)}`} data-money>{money(card.mrr_profit_change, currency, true)}</dd>
        </div>
      </dl>
      {(card.period_months ?? 1) > 1 && card.period_change != null && (
        <p className="small muted period-note" data-testid="card-period" data-money>
          {money(card.period_change, currency, true)} {perPeriod(card.billing_cycle)} on this contract
        </p>
      )}

      {card.error && (
        <p className="card-error small" role="note">
          {card.error}
        </p>
      )}

      {note}

      <footer className="card-actions">
        {!onApprove ? null : card.state === "failed" && onRetry ? (
          <button type="button" className="btn btn-primary btn-small" onClick={onRetry} aria-label={`Retry ${title}`}>
            Retry
          </button>
        ) : (
          <button type="button" className="btn btn-primary btn-small" onClick={onApprove} aria-label={`${isNew ? "Add" : "Approve"} ${title}`}>
            {isNew ? "Add" : "Approve"}
          </button>
        )}
        <button type="button" className="btn btn-small" onClick={onDetails} aria-label={`Details of ${title}`}>
          Details
        </button>
        {onDismiss && (
          <button type="button" className="btn btn-ghost btn-small" onClick={onDismiss} aria-label={`Dismiss ${title}`}>
            Dismiss
          </button>
        )}
      </footer>
    </article>
  );
}
