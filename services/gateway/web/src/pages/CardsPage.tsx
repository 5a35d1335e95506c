import { useMemo, useState } from "react";
import { useCardActions, useCards } from "../cards";
import { DetailsModal } from "../components/DetailsModal";
import { EmptyState, ErrorBanner, PageHeader, SkeletonCards, VendorTag, useDebounced } from "../components/ui";
import { ago, money, moneyByCurrency, moneyList, num, perPeriod, qty, sumByCurrency, tone, toneOf, vendorsOf } from "../format";
import { navigate } from "../router";
import type { Card } from "../types";

type KindFilter = "" | "reconcile" | "new_revenue";

const NEEDS_ATTENTION = new Set(["pending", "failed", "conflict"]);

export function CardsPage() {
  const [search, setSearch] = useState("");
  const [kind, setKind] = useState<KindFilter>("");
  const [vendor, setVendor] = useState("");
  const [details, setDetails] = useState<Card | null>(null);
  const q = useDebounced(search.trim(), 250);
  // Not only pending: a write-back that failed or met a conflict needs a person too.
  const cards = useCards({});
  const actions = useCardActions();

  const all = useMemo(
    () => (cards.data?.items ?? []).filter((card) => card.kind !== "no_change" && NEEDS_ATTENTION.has(card.state)),
    [cards.data],
  );
  const vendors = useMemo(() => [...new Set(all.flatMap(vendorsOf))].sort(), [all]);
  const visible = useMemo(() => {
    const needle = q.toLowerCase();
    return all.filter(
      (card) =>
        (!kind || card.kind === kind) &&
        (!vendor || vendorsOf(card).includes(vendor)) &&
        (!needle ||
          `${card.account_name} ${card.contract_name} ${card.service_line}`.toLowerCase().includes(needle)),
    );
  }, [all, q, kind, vendor]);

  const groups = useMemo(() => {
    const byLine = new Map<string, Card[]>();
    for (const card of visible) {
      const key = card.service_line || "Unassigned service";
      const list = byLine.get(key);
      if (list) list.push(card);
      else byLine.set(key, [card]);
    }
    return [...byLine.entries()].sort(([a], [b]) => a.localeCompare(b));
  }, [visible]);

  // Monthly figures: a quarterly contract's change per quarter does not add to a month's.
  const revenue = sumByCurrency(visible, (card) => card.mrr_change);
  const profit = sumByCurrency(visible, (card) => card.mrr_profit_change);
  const newCount = all.filter((card) => card.kind === "new_revenue").length;

  return (
    <div className="page">
      <PageHeader
        title="Service reconciliation"
        subtitle={
          cards.data
            ? `${all.length} card${all.length === 1 ? "" : "s"} to review${newCount ? `, ${newCount} new revenue` : ""}`
            : "Differences between your PSA contracts and your vendors' usage"
        }
        actions={
          <button type="button" className="btn" onClick={() => navigate("/import")}>
            Import usage CSV
          </button>
        }
      />

      {all.length > 0 && (
        <div className="summary-strip" aria-label="Effect of the visible cards">
          <div className="summary-item">
            <span className="muted">Cards shown</span>
            <strong>{visible.length}</strong>
          </div>
          <div className="summary-item">
            <span className="muted">MRR change</span>
            <strong className={`delta-${toneOf(revenue)}`} data-testid="summary-mrr">
              {moneyList(revenue)}
            </strong>
          </div>
          <div className="summary-item">
            <span className="muted">Profit change / month</span>
            <strong className={`delta-${toneOf(profit)}`}>{moneyList(profit)}</strong>
          </div>
        </div>
      )}

      <div className="toolbar" role="search">
        <label className="visually-hidden" htmlFor="card-search">
          Search cards
        </label>
        <input
          id="card-search"
          type="search"
          placeholder="Search account, contract or service…"
          value={search}
          onChange={(event) => setSearch(event.target.value)}
        />
        <div className="segmented" role="group" aria-label="Card type">
          {(
            [
              ["", "All"],
              ["reconcile", "Changes"],
              ["new_revenue", "New revenue"],
            ] as const
          ).map(([value, label]) => (
            <button
              key={value}
              type="button"
              aria-pressed={kind === value}
              className={kind === value ? "active" : ""}
              onClick={() => setKind(value)}
            >
              {label}
            </button>
          ))}
        </div>
        <label className="visually-hidden" htmlFor="card-vendor">
          Vendor
        </label>
        <select id="card-vendor" value={vendor} onChange={(event) => setVendor(event.target.value)}>
          <option value="">All vendors</option>
          {vendors.map((v) => (
            <option key={v} value={v}>
              {v}
            </option>
          ))}
        </select>
      </div>

      <ErrorBanner error={cards.error} onRetry={() => void cards.refetch()} />

      {cards.isPending ? (
        <SkeletonCards />
      ) : cards.isError ? null : all.length === 0 ? (
        <EmptyState
          title="Nothing to reconcile"
          actions={
            <>
              <button type="button" className="btn btn-primary" onClick={() => navigate("/import")}>
                Import a vendor CSV
              </button>
              <button type="button" className="btn" onClick={() => navigate("/settings")}>
                Connect your PSA
              </button>
            </>
          }
        >
          Every contract matches its vendors' usage for this billing cycle. New differences show up here as soon as
          usage arrives: import a vendor's usage report, or connect your PSA and vendors so they sync on their own.
        </EmptyState>
      ) : visible.length === 0 ? (
        <EmptyState icon="⌕" title="No card matches these filters">
          <button
            type="button"
            className="btn btn-link"
            onClick={() => {
              setSearch("");
              setKind("");
              setVendor("");
            }}
          >
            Clear the filters
          </button>
        </EmptyState>
      ) : (
        groups.map(([line, list]) => (
          <CardGroup
            key={line}
            line={line}
            cards={list}
            onApprove={(card) => (card.kind === "new_revenue" ? setDetails(card) : actions.approve(card))}
            onDetails={setDetails}
            onDismiss={(card) => actions.dismiss(card)}
            onRetry={(card) => actions.retry(card)}
          />
        ))
      )}

      {details && <DetailsModal card={details} onClose={() => setDetails(null)} />}
    </div>
  );
}

/** Cards shown per service line before "Show more": a month with thousands stays fast. */
const GROUP_PAGE = 12;

function CardGroup({
  line,
  cards,
  onApprove,
  onDetails,
  onDismiss,
  onRetry,
}: {
  line: string;
  cards: Card[];
  onApprove: (card: Card) => void;
  onDetails: (card: Card) => void;
  onDismiss: (card: Card) => void;
  onRetry: (card: Card) => void;
}) {
  const [shown, setShown] = useState(GROUP_PAGE);
  const rest = cards.length - shown;
  return (
    <section className="card-group" aria-label={line}>
      <header className="group-header">
        <h2>{line}</h2>
        <span className="muted small">
          {cards.length} card{cards.length === 1 ? "" : "s"} · {moneyByCurrency(cards, (card) => card.mrr_change)} / month
        </span>
      </header>
      <ul className="card-grid">
        {cards.slice(0, shown).map((card) => (
          <li key={card.card_id}>
            <ServiceCard
              card={card}
              onApprove={() => onApprove(card)}
              onDetails={() => onDetails(card)}
              onDismiss={() => onDismiss(card)}
              onRetry={() => onRetry(card)}
            />
          </li>
        ))}
      </ul>
      {rest > 0 && (
        <div className="group-more">
          <button type="button" className="btn btn-small" onClick={() => setShown((n) => n + GROUP_PAGE * 4)}>
            Show {Math.min(rest, GROUP_PAGE * 4)} more of {rest}
          </button>
          <button type="button" className="btn btn-link btn-small" onClick={() => navigate("/list")}>
            Open in the list view
          </button>
        </div>
      )}
    </section>
  );
}

export function ServiceCard({
  card,
  onApprove,
  onDetails,
  onDismiss,
  onRetry,
}: {
  card: Card;
  onApprove: () => void;
  onDetails: () => void;
  onDismiss: () => void;
  onRetry?: () => void;
}) {
  const isNew = card.kind === "new_revenue" || card.is_new;
  const currency = card.currency ?? "USD";
  const failed = card.state === "failed" || card.state === "conflict";
  const title = `${card.account_name}, ${card.service_line}`;
  return (
    <article className={`card${isNew ? " card-new" : ""}${failed ? " card-failed" : ""}`} aria-label={title} data-card-id={card.card_id}>
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
      <h3 className="card-account">{card.account_name}</h3>
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
          <dd className={`delta-${tone(card.mrr_change)}`} data-testid="card-mrr">
            {money(card.mrr_change, currency, true)}
          </dd>
        </div>
        <div>
          <dt>Profit / mo</dt>
          <dd className={`delta-${tone(card.mrr_profit_change)}`}>{money(card.mrr_profit_change, currency, true)}</dd>
        </div>
      </dl>
      {(card.period_months ?? 1) > 1 && card.period_change != null && (
        <p className="small muted period-note" data-testid="card-period">
          {money(card.period_change, currency, true)} {perPeriod(card.billing_cycle)} on this contract
        </p>
      )}

      {card.error && (
        <p className="card-error small" role="note">
          {card.error}
        </p>
      )}

      <footer className="card-actions">
        {failed && onRetry ? (
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
        <button type="button" className="btn btn-ghost btn-small" onClick={onDismiss} aria-label={`Dismiss ${title}`}>
          Dismiss
        </button>
      </footer>
    </article>
  );
}
