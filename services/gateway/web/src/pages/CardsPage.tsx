import { useMemo, useState } from "react";
import { useCardActions } from "../cardActions";
import { useCards } from "../cards";
import { byMoneyAtRisk, useCardKeyboard, useStoredPreference, type CardOrder, type Density } from "../cardsView";
import { CyclePicker } from "../components/CyclePicker";
import { DetailsModal } from "../components/DetailsModal";
import { useSelectedCycle } from "../cycles";
import { ClosedCyclePage } from "./ClosedCyclePage";
import { ServiceCard } from "../components/ServiceCard";
import { EmptyState, ErrorBanner, PageHeader, SkeletonCards, useDebounced } from "../components/ui";
import { MoneyParts } from "../components/MoneyParts";
import { sumByCurrency, toneOf, vendorsOf } from "../format";
import { navigate } from "../router";
import type { Card } from "../types";

type KindFilter = "" | "reconcile" | "new_revenue";

const NEEDS_ATTENTION = new Set(["pending", "failed", "conflict"]);

const DENSITIES = ["comfortable", "compact"] as const;
const ORDERS = ["service_line", "at_risk"] as const;

/** `userKey` names the signed-in user: each keeps their own density and order. */
export function CardsPage({ userKey = "" }: { userKey?: string }) {
  const cycle = useSelectedCycle();
  return cycle ? <ClosedCyclePage start={cycle} layout="cards" /> : <CurrentCards userKey={userKey} />;
}

function CurrentCards({ userKey }: { userKey: string }) {
  const [density, setDensity] = useStoredPreference<Density>(`trueup.cards.density.${userKey}`, DENSITIES, "comfortable");
  const [order, setOrder] = useStoredPreference<CardOrder>(`trueup.cards.order.${userKey}`, ORDERS, "service_line");
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
    const byName = [...byLine.entries()].sort(([a], [b]) => a.localeCompare(b));
    return order === "at_risk" ? byMoneyAtRisk(byName) : byName;
  }, [visible, order]);

  const handlers = useMemo(
    () => ({
      // A conflict wrote nothing: it is approved again against the PSA's quantity now.
      approve: (card: Card) =>
        card.state === "failed"
          ? actions.retry(card)
          : card.kind === "new_revenue"
            ? setDetails(card)
            : actions.approve(card),
      dismiss: (card: Card) => actions.dismiss(card),
      details: (card: Card) => setDetails(card),
    }),
    [actions],
  );
  useCardKeyboard(visible, handlers, details === null);

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
          <>
            <CyclePicker />
            <button type="button" className="btn" onClick={() => navigate("/import")}>
              Import usage CSV
            </button>
          </>
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
            <strong className={`delta-${toneOf(revenue)}`} data-testid="summary-mrr" data-money>
              <MoneyParts rows={revenue} />
            </strong>
          </div>
          <div className="summary-item">
            <span className="muted">Profit change / month</span>
            <strong className={`delta-${toneOf(profit)}`} data-money>
              <MoneyParts rows={profit} />
            </strong>
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
        <label className="inline-field">
          <span>Sort</span>
          <select value={order} onChange={(event) => setOrder(event.target.value as CardOrder)}>
            <option value="service_line">By service line</option>
            <option value="at_risk">Money at risk first</option>
          </select>
        </label>
        <div className="segmented" role="group" aria-label="Density">
          {(
            [
              ["comfortable", "Comfortable"],
              ["compact", "Compact"],
            ] as const
          ).map(([value, label]) => (
            <button
              key={value}
              type="button"
              aria-pressed={density === value}
              className={density === value ? "active" : ""}
              onClick={() => setDensity(value)}
            >
              {label}
            </button>
          ))}
        </div>
        <span className="muted small kbd-hint" aria-hidden="true">
          <kbd>j</kbd>/<kbd>k</kbd> move · <kbd>a</kbd> approve · <kbd>d</kbd> dismiss · <kbd>Enter</kbd> details
        </span>
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
        <div className={density === "compact" ? "cards-compact" : undefined} data-density={density}>
          {groups.map(([line, list]) => (
            <CardGroup
              key={line}
              line={line}
              cards={list}
              onApprove={(card) => (card.kind === "new_revenue" ? setDetails(card) : actions.approve(card))}
              onDetails={setDetails}
              onDismiss={(card) => actions.dismiss(card)}
              onRetry={(card) => actions.retry(card)}
            />
          ))}
        </div>
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
        <span className="muted small group-total" data-money>
          {cards.length} card{cards.length === 1 ? "" : "s"} · <MoneyParts rows={sumByCurrency(cards, (card) => card.mrr_change)} /> / month
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
