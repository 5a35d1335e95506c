import type { Column } from "@tanstack/react-table";
import type { ReactNode } from "react";
import { sumByCurrency } from "../format";
import type { Card } from "../types";
import { QuantitySum, Sum, isMoney, isNumeric } from "./listColumns";

/** What each column totals; the columns before the first of them carry the label. */
const TOTALS: Record<string, (cards: Card[]) => ReactNode> = {
  psa_quantity: (cards) => <QuantitySum cards={cards} value={(card) => card.psa_quantity} />,
  vendor_quantity: (cards) => <QuantitySum cards={cards} value={(card) => card.vendor_quantity} />,
  delta: (cards) => <QuantitySum cards={cards} value={(card) => card.delta} signed />,
  mrr_change: (cards) => <Sum rows={sumByCurrency(cards, (card) => card.mrr_change)} testId="total-revenue" />,
  mrr_profit_change: (cards) => <Sum rows={sumByCurrency(cards, (card) => card.mrr_profit_change)} />,
};

/** The totals row of the list: every filtered card, under whichever columns are shown. */
export function ListFooter({ columns, cards }: { columns: Column<Card, unknown>[]; cards: Card[] }) {
  const first = columns.findIndex((column) => column.id in TOTALS);
  const label = first === -1 ? columns.length : first;
  return (
    <tfoot>
      <tr className="totals-row">
        <th scope="row" colSpan={label}>
          Total · {cards.length} card{cards.length === 1 ? "" : "s"}
        </th>
        {columns.slice(label).map((column) => (
          <td
            key={column.id}
            className={isNumeric(column) ? "num" : undefined}
            data-money={isMoney(column) || undefined}
            data-testid={column.id === "delta" ? "total-delta" : undefined}
          >
            {TOTALS[column.id]?.(cards)}
          </td>
        ))}
      </tr>
    </tfoot>
  );
}
