import type { UseQueryResult } from "@tanstack/react-query";
import { errorMessage } from "../api";
import { day, money, num, qty, tone } from "../format";
import type { ChangePreview } from "../types";

/** What a change would do: the money, the steps written to the PSA, the prorated lines. */
export function ChangeSummary({
  invalid,
  preview,
  currency,
}: {
  invalid: boolean;
  preview: UseQueryResult<ChangePreview>;
  currency: string;
}) {
  const p = preview.data;
  return invalid ? (
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
  );
}
