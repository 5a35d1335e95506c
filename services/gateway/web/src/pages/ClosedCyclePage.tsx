import { useMemo, useState } from "react";
import { CyclePicker } from "../components/CyclePicker";
import { MoneyParts } from "../components/MoneyParts";
import { ServiceCard } from "../components/ServiceCard";
import { EmptyState, ErrorBanner, Modal, PageHeader, Spinner } from "../components/ui";
import { actionLabel, cycleLabel, selectCycle, useCycleCards, type Cycle, type CycleAction, type CycleCard } from "../cycles";
import { day, money, qty, titleCase, tone, when } from "../format";

type StateFilter = "" | "approved" | "dismissed" | "pending";

const TITLES = { cards: "Service reconciliation", list: "List view" } as const;

/** A closed billing cycle's cards as they stood when it closed: read-only, with what was done. */
export function ClosedCyclePage({ start, layout }: { start: string; layout: "cards" | "list" }) {
  const cards = useCycleCards(start);
  const [search, setSearch] = useState("");
  const [state, setState] = useState<StateFilter>("");
  const [details, setDetails] = useState<CycleCard | null>(null);
  const cycle = cards.data?.cycle;

  const visible = useMemo(() => {
    const needle = search.trim().toLowerCase();
    return (cards.data?.items ?? []).filter(
      (card) =>
        (!state || decisionOf(card) === state) &&
        (!needle || `${card.account_name} ${card.contract_name} ${card.service_line}`.toLowerCase().includes(needle)),
    );
  }, [cards.data, search, state]);

  return (
    <div className={layout === "list" ? "page page-wide" : "page"}>
      <PageHeader
        title={TITLES[layout]}
        subtitle={cycle ? `Billing period ${cycleLabel(cycle)}` : "A closed billing period"}
        actions={
          <>
            <CyclePicker />
            <button type="button" className="btn btn-small" onClick={() => selectCycle(null)}>
              Back to the current cycle
            </button>
          </>
        }
      />
      {cycle && <ClosedBanner cycle={cycle} />}

      <div className="toolbar" role="search">
        <label className="visually-hidden" htmlFor="cycle-search">
          Search cards
        </label>
        <input
          id="cycle-search"
          type="search"
          placeholder="Search account, contract or service…"
          value={search}
          onChange={(event) => setSearch(event.target.value)}
        />
        <div className="segmented" role="group" aria-label="What was done">
          {(
            [
              ["", "All"],
              ["approved", "Approved"],
              ["dismissed", "Dismissed"],
              ["pending", "Left pending"],
            ] as const
          ).map(([value, label]) => (
            <button
              key={value}
              type="button"
              aria-pressed={state === value}
              className={state === value ? "active" : ""}
              onClick={() => setState(value)}
            >
              {label}
            </button>
          ))}
        </div>
      </div>

      <ErrorBanner error={cards.error} onRetry={() => void cards.refetch()} />
      {cards.isPending ? (
        <Spinner label="Loading the closed cycle" />
      ) : cards.isError ? null : visible.length === 0 ? (
        <EmptyState icon="⌕" title="No card of this cycle matches">
          This cycle kept every card that showed a difference or was actioned.
        </EmptyState>
      ) : layout === "cards" ? (
        <CardGroups cards={visible} onDetails={setDetails} />
      ) : (
        <CycleTable cards={visible} onDetails={setDetails} />
      )}
      {details && <ClosedCardDetails card={details} onClose={() => setDetails(null)} />}
    </div>
  );
}

function ClosedBanner({ cycle }: { cycle: Cycle }) {
  const approved = cycle.approved_by_currency.map((row) => ({ currency: row.currency, amount: row.mrr_change }));
  return (
    <div className="banner banner-info closed-cycle-banner" role="status" data-testid="closed-cycle-banner">
      <strong>Closed cycle — read only;</strong> {cycle.approved} approved, {cycle.dismissed} dismissed
      {cycle.approved > 0 && (
        <span data-money>
          {" "}
          · approved MRR change <MoneyParts rows={approved} />
        </span>
      )}
      {cycle.closed_at && <span className="muted small"> · closed {when(cycle.closed_at)}</span>}
    </div>
  );
}

/** approved, dismissed, or pending (nothing was decided in the cycle). */
function decisionOf(card: CycleCard): Exclude<StateFilter, ""> {
  if (card.action?.action === "dismiss") return "dismissed";
  if (card.action) return "approved";
  return "pending";
}

/** "Approved by Dana, 5 Dec 2026 14:02" */
function decisionLine(action: CycleAction): string {
  return `${actionLabel(action.action)} by ${action.actor.name || action.actor.id || "someone"}, ${when(action.at)}`;
}

function Decision({ card }: { card: CycleCard }) {
  const action = card.action;
  if (!action) {
    return <p className="small muted cycle-decision">Left {card.state === "pending" ? "pending" : titleCase(card.state)} this cycle</p>;
  }
  return (
    <div className="small cycle-decision" data-testid="cycle-decision">
      <strong>{decisionLine(action)}</strong>
      {action.changes.length > 0 && (
        <ul className="cycle-steps">
          {action.changes.map((step) => (
            <li key={`${step.effective_date}-${step.quantity}`}>
              {qty(step.quantity)} from {day(step.effective_date)}
            </li>
          ))}
        </ul>
      )}
      {action.reason && <div className="muted">“{action.reason}”</div>}
    </div>
  );
}

function CardGroups({ cards, onDetails }: { cards: CycleCard[]; onDetails: (card: CycleCard) => void }) {
  const groups = useMemo(() => {
    const byLine = new Map<string, CycleCard[]>();
    for (const card of cards) {
      const key = card.service_line || "Unassigned service";
      byLine.set(key, [...(byLine.get(key) ?? []), card]);
    }
    return [...byLine.entries()].sort(([a], [b]) => a.localeCompare(b));
  }, [cards]);
  return (
    <div>
      {groups.map(([line, list]) => (
        <section key={line} className="card-group" aria-label={line}>
          <header className="group-header">
            <h2>{line}</h2>
            <span className="muted small group-total">
              {list.length} card{list.length === 1 ? "" : "s"}
            </span>
          </header>
          <ul className="card-grid">
            {list.map((card) => (
              <li key={card.card_id}>
                <ServiceCard card={card} onDetails={() => onDetails(card)} note={<Decision card={card} />} />
              </li>
            ))}
          </ul>
        </section>
      ))}
    </div>
  );
}

function CycleTable({ cards, onDetails }: { cards: CycleCard[]; onDetails: (card: CycleCard) => void }) {
  return (
    <div className="table-wrap">
      <table className="grid cycle-table" aria-label="Cards of the closed cycle">
        <thead>
          <tr>
            <th scope="col">Account</th>
            <th scope="col">Service line</th>
            <th scope="col">Contract</th>
            <th scope="col" className="num">
              PSA
            </th>
            <th scope="col" className="num">
              Vendor
            </th>
            <th scope="col" className="num">
              MRR change
            </th>
            <th scope="col">What was done</th>
            <th scope="col">
              <span className="visually-hidden">Details</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {cards.map((card) => (
            <tr key={card.card_id} data-card-id={card.card_id}>
              <td>{card.account_name}</td>
              <td>{card.service_line}</td>
              <td>{card.contract_name || "—"}</td>
              <td className="num">{qty(card.psa_quantity)}</td>
              <td className="num">{qty(card.vendor_quantity)}</td>
              <td className={`num delta-${tone(card.mrr_change)}`} data-money>
                {money(card.mrr_change, card.currency ?? "USD", true)}
              </td>
              <td>
                {card.action ? decisionLine(card.action) : <span className="muted">Left {card.state}</span>}
              </td>
              <td>
                <button
                  type="button"
                  className="btn btn-small"
                  onClick={() => onDetails(card)}
                  aria-label={`Details of ${card.account_name}, ${card.service_line}`}
                >
                  Details
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ClosedCardDetails({ card, onClose }: { card: CycleCard; onClose: () => void }) {
  const currency = card.currency ?? "USD";
  return (
    <Modal
      wide
      onClose={onClose}
      title={
        <>
          {card.account_name}
          <span className="muted title-sub"> · {card.service_line}</span>
        </>
      }
      footer={
        <button type="button" className="btn" onClick={onClose}>
          Close
        </button>
      }
    >
      <p className="banner banner-info">This card is from a closed billing cycle: it shows what was done then, read only.</p>
      <div className="quadrants">
        <section className="quadrant" aria-labelledby="c-done">
          <h3 id="c-done">What was done</h3>
          <Decision card={card} />
          {card.action?.large_change && <p className="small">Large change, confirmed: {card.action.large_change}</p>}
        </section>
        <section className="quadrant" aria-labelledby="c-card">
          <h3 id="c-card">The card when the cycle closed</h3>
          <dl className="facts">
            <dt>Contract</dt>
            <dd>{card.contract_name || "—"}</dd>
            <dt>State</dt>
            <dd>{titleCase(card.state)}</dd>
            <dt>Quantity</dt>
            <dd>
              PSA {qty(card.psa_quantity)} · vendor {qty(card.vendor_quantity)} · change {qty(card.delta, true)}
            </dd>
            <dt>Price / cost</dt>
            <dd>
              {money(card.unit_price, currency)} / {money(card.unit_cost, currency)} per unit
            </dd>
            <dt>MRR change</dt>
            <dd data-money>{money(card.mrr_change, currency, true)}</dd>
          </dl>
        </section>
      </div>
    </Modal>
  );
}
