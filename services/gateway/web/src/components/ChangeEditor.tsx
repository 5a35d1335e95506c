import { useQuery } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { errorMessage, getItems, request } from "../api";
import { useCardActions } from "../cardActions";
import { addRequest, approvalRequest, changeRequest, draftInvalid, isDecimal, nextProratedStep, stepsText } from "../changeRequest";
import { num, qty, vendorsOf } from "../format";
import type { Card, CardDetails, ChangePreview, ChangeRequest, ContractOption, ProratedChange } from "../types";
import { ChangeSummary } from "./ChangeSummary";
import { VendorTag, useDebounced } from "./ui";

/**
 * The change a pending card would make, previewed as it is edited. Approve (or Add) goes
 * through the same undo window as the card's own Approve: the dialog closes, the card
 * leaves, and the toast's Undo keeps it from being sent.
 */
export function ChangeEditor({
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
  const actions = useCardActions();
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
  const invalid = draftInvalid({ quantity, price, cost, prorated }, isNew);

  // An add is previewed at the price and cost it would write: its large-change check too.
  const body = useMemo(
    () => ({
      ...changeRequest(quantity, effective, prorated),
      ...(isNew && price ? { unit_price: price } : {}),
      ...(isNew && cost ? { unit_cost: cost } : {}),
    }),
    [quantity, effective, prorated, isNew, price, cost],
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

  // The preview must be of what is sent: it decides `confirm` and the steps the toast names.
  const previewed = debounced === body && !preview.isFetching && Boolean(preview.data);

  const submit = () => {
    if (isNew) {
      actions.add(
        card,
        addRequest({ contractId, quantity, price, cost, effective, prorate: prorationAllowed }, large),
        `Added ${qty(quantity)} × ${card.service_line} to ${card.account_name}`,
      );
    } else {
      actions.approve(card, approvalRequest(body, large), stepsText(card.psa_quantity, preview.data?.steps, quantity));
    }
    onDone();
  };

  return (
    <form
      className="change-form"
      onSubmit={(event) => {
        event.preventDefault();
        if (!invalid && previewed && !needsConfirm) submit();
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
            aria-invalid={!isDecimal(quantity)}
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
                aria-invalid={!isDecimal(line.quantity)}
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
            onClick={() => setProrated((list) => [...list, nextProratedStep(list, effective, quantity)])}
          >
            Add prorated change
          </button>
        </fieldset>
      )}

      <div className="change-summary" aria-live="polite" aria-busy={preview.isFetching}>
        <h4>Summary of change</h4>
        <ChangeSummary invalid={invalid} preview={preview} currency={currency} />
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
      <div className="form-actions">
        {isNew && card.account_id && (
          <button
            type="button"
            className="btn btn-ghost btn-small"
            onClick={() => {
              actions.suppressNewRevenue(card);
              onDone();
            }}
          >
            Stop showing new revenue for {card.account_name}
          </button>
        )}
        <button
          type="submit"
          className="btn btn-primary"
          disabled={invalid || needsConfirm || !previewed || (isNew && !contractId)}
        >
          {isNew ? "Add to contract" : "Approve change"}
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
