// The list view's columns, their totals and filters: what each column shows and sums.
import type { Column, ColumnDef, Row } from "@tanstack/react-table";
import { useEffect, useRef, type HTMLProps } from "react";
import { VendorTag } from "./ui";
import {
  ago,
  money,
  moneyParts,
  num,
  perPeriod,
  qty,
  quantityTotal,
  sumByCurrency,
  titleCase,
  tone,
  vendorsOf,
  type CurrencyAmount,
} from "../format";
import { FILTER_MAX_LENGTH } from "../listView";
import type { Card } from "../types";

/** Wide enough for "+CA$99,999.99": a money figure is never cut (its column can widen). */
export const MONEY_WIDTH = 140;
/** The least a text column shrinks to before the grid scrolls sideways. */
export const FLEXIBLE_MIN = 110;
/** Text columns share the width the fixed-size columns leave. */
export const FLEXIBLE = new Set(["account_name", "service_line", "contract_name"]);

function IndeterminateCheckbox({ indeterminate, ...rest }: { indeterminate?: boolean } & HTMLProps<HTMLInputElement>) {
  const ref = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (ref.current) ref.current.indeterminate = Boolean(indeterminate) && !rest.checked;
  }, [indeterminate, rest.checked]);
  return <input type="checkbox" ref={ref} {...rest} />;
}

const leaves = (row: Row<Card>): Card[] => row.getLeafRows().map((leaf) => leaf.original);

/** The figure each money column totals per currency. */
const MONEY_VALUES: Record<string, (card: Card) => string | null | undefined> = {
  mrr_change: (card) => card.mrr_change,
  mrr_profit_change: (card) => card.mrr_profit_change,
};

// A group row's object lives as long as its set of cards (a new grouping or filter makes new
// rows), so its totals are worked out once: for its cells and for its height, which the grid
// needs for every group before any is shown.
const groupTotals = new WeakMap<Row<Card>, Map<string, CurrencyAmount[]>>();

/** A group's total of a money column, one amount per currency. */
export function groupTotal(row: Row<Card>, columnId: string): CurrencyAmount[] {
  let totals = groupTotals.get(row);
  if (!totals) groupTotals.set(row, (totals = new Map()));
  let total = totals.get(columnId);
  if (!total) {
    total = sumByCurrency(leaves(row), MONEY_VALUES[columnId] ?? (() => null));
    totals.set(columnId, total);
  }
  return total;
}

/** "+$2,956.80 per quarter" on a card whose contract bills other than monthly. */
function periodTitle(card: Card): string | undefined {
  if ((card.period_months ?? 1) <= 1 || card.period_change == null) return undefined;
  return `${money(card.period_change, card.currency ?? "USD", true)} ${perPeriod(card.billing_cycle)}`;
}

/** A quantity total where the cards count one thing (one service line); none otherwise. */
export function QuantitySum({
  cards,
  value,
  signed = false,
}: {
  cards: Card[];
  value: (card: Card) => string | null | undefined;
  signed?: boolean;
}) {
  const total = quantityTotal(cards, value);
  if (total === null) {
    return (
      <span className="muted" title="No total: these cards count different things (service lines or sales units)">
        —
      </span>
    );
  }
  const unit = cards[0]?.sales_unit;
  const text = qty(total, signed);
  return (
    <span className={signed ? `delta-${tone(total)}` : undefined} title={unit ? `${text} ${unit}` : undefined}>
      {text}
    </span>
  );
}

/** The grid's columns; `onDetails` opens a card's details from its account name. */
export function listColumns(onDetails: (card: Card) => void): ColumnDef<Card>[] {
  return [
    {
      id: "select",
      size: 36,
      enableSorting: false,
      enableColumnFilter: false,
      header: ({ table }) => (
        <IndeterminateCheckbox
          aria-label="Select all visible cards"
          checked={table.getIsAllRowsSelected()}
          indeterminate={table.getIsSomeRowsSelected()}
          onChange={table.getToggleAllRowsSelectedHandler()}
        />
      ),
      cell: ({ row }) => (
        <IndeterminateCheckbox
          aria-label={
            row.getIsGrouped()
              ? `Select every card of ${String(row.groupingValue)}`
              : `Select ${row.original.account_name}, ${row.original.service_line}`
          }
          checked={row.getIsGrouped() ? row.getIsAllSubRowsSelected() : row.getIsSelected()}
          indeterminate={row.getIsSomeSelected()}
          onChange={row.getToggleSelectedHandler()}
        />
      ),
    },
    {
      accessorKey: "account_name",
      header: "Account",
      size: 220,
      filterFn: "includesString",
      cell: ({ row, getValue }) => (
        <span className="cell-account">
          {(row.original.kind === "new_revenue" || row.original.is_new) && <span className="tag tag-new">New</span>}
          <button
            type="button"
            className="link-button"
            title="Open the details"
            aria-label={`Details of ${row.original.account_name}, ${row.original.service_line}`}
            onClick={() => onDetails(row.original)}
          >
            {String(getValue())}
          </button>
        </span>
      ),
    },
    { accessorKey: "service_line", header: "Service line", size: 200, filterFn: "includesString" },
    { accessorKey: "contract_name", header: "Contract", size: 180, filterFn: "includesString" },
    {
      id: "vendor",
      accessorFn: (card) => vendorsOf(card).join(", "),
      header: "Vendor",
      size: 100,
      filterFn: "includesString",
      cell: ({ row }) => (
        <>
          {vendorsOf(row.original).map((v) => (
            <VendorTag key={v} vendor={v} />
          ))}
          {row.original.stale && (
            <span className="stale-dot" title={`Usage is stale (as of ${ago(row.original.usage_as_of ?? row.original.updated_at)})`}>
              <span className="visually-hidden">stale usage</span>
            </span>
          )}
        </>
      ),
    },
    {
      id: "psa_quantity",
      accessorFn: (card) => num(card.psa_quantity),
      header: "PSA qty",
      size: 92,
      meta: { numeric: true },
      enableColumnFilter: false,
      cell: ({ row }) => qty(row.original.psa_quantity),
      aggregatedCell: ({ row }) => <QuantitySum cards={leaves(row)} value={(card) => card.psa_quantity} />,
    },
    {
      id: "vendor_quantity",
      accessorFn: (card) => num(card.vendor_quantity),
      header: "Vendor qty",
      size: 92,
      meta: { numeric: true },
      enableColumnFilter: false,
      cell: ({ row }) => qty(row.original.vendor_quantity),
      aggregatedCell: ({ row }) => <QuantitySum cards={leaves(row)} value={(card) => card.vendor_quantity} />,
    },
    {
      id: "delta",
      accessorFn: (card) => num(card.delta),
      header: "Delta",
      size: 76,
      meta: { numeric: true },
      filterFn: (row, id, value: string) => {
        const delta = row.getValue<number>(id);
        return value === "up" ? delta > 0 : value === "down" ? delta < 0 : true;
      },
      cell: ({ getValue }) => <span className={`delta-${tone(getValue<number>())}`}>{qty(getValue<number>(), true)}</span>,
      aggregatedCell: ({ row }) => <QuantitySum cards={leaves(row)} value={(card) => card.delta} signed />,
    },
    {
      // Monthly: a quarterly contract's change per quarter is in the cell's tooltip.
      id: "mrr_change",
      accessorFn: (card) => num(card.mrr_change),
      header: "MRR",
      size: MONEY_WIDTH,
      meta: { numeric: true, money: true },
      enableColumnFilter: false,
      cell: ({ row, getValue }) => (
        <span className={`delta-${tone(getValue<number>())}`} title={periodTitle(row.original)}>
          {money(row.original.mrr_change, row.original.currency ?? "USD", true)}
        </span>
      ),
      aggregatedCell: ({ row }) => <Sum rows={groupTotal(row, "mrr_change")} />,
    },
    {
      id: "mrr_profit_change",
      accessorFn: (card) => num(card.mrr_profit_change),
      header: "Profit / mo",
      size: MONEY_WIDTH,
      meta: { numeric: true, money: true },
      enableColumnFilter: false,
      cell: ({ row, getValue }) => (
        <span className={`delta-${tone(getValue<number>())}`}>
          {money(row.original.mrr_profit_change, row.original.currency ?? "USD", true)}
        </span>
      ),
      aggregatedCell: ({ row }) => <Sum rows={groupTotal(row, "mrr_profit_change")} />,
    },
    {
      accessorKey: "state",
      header: "State",
      size: 88,
      filterFn: "equalsString",
      cell: ({ getValue }) => <span className={`pill pill-${String(getValue())}`}>{titleCase(String(getValue()))}</span>,
    },
  ];
}

/** A money total, one line per currency (a narrow column cannot hold two side by side). */
export function Sum({ rows, testId }: { rows: CurrencyAmount[]; testId?: string }) {
  const parts = moneyParts(rows);
  const text = parts.join(" · ");
  return (
    <span className="sum-lines" title={text} data-testid={testId}>
      {parts.map((part, index) => (
        <span key={part}>
          {index > 0 && <span className="visually-hidden"> · </span>}
          {part}
        </span>
      ))}
    </span>
  );
}

export function isNumeric(column: Column<Card, unknown>): boolean {
  return Boolean((column.columnDef.meta as { numeric?: boolean } | undefined)?.numeric);
}

export function isMoney(column: Column<Card, unknown>): boolean {
  return Boolean((column.columnDef.meta as { money?: boolean } | undefined)?.money);
}

export function ColumnFilter({ column, data }: { column: Column<Card, unknown>; data: Card[] }) {
  const value = (column.getFilterValue() as string | undefined) ?? "";
  const label = `Filter ${typeof column.columnDef.header === "string" ? column.columnDef.header : column.id}`;
  if (column.id === "delta") {
    return (
      <select aria-label="Filter delta" value={value} onChange={(event) => column.setFilterValue(event.target.value || undefined)}>
        <option value="">Any</option>
        <option value="up">Increase</option>
        <option value="down">Decrease</option>
      </select>
    );
  }
  if (column.id === "state" || column.id === "vendor") {
    const options = [...new Set(data.flatMap((card) => (column.id === "state" ? [card.state] : vendorsOf(card))))].sort();
    return (
      <select aria-label={label} value={value} onChange={(event) => column.setFilterValue(event.target.value || undefined)}>
        <option value="">All</option>
        {options.map((option) => (
          <option key={option} value={option}>
            {titleCase(option)}
          </option>
        ))}
      </select>
    );
  }
  return (
    <input
      type="search"
      aria-label={label}
      maxLength={FILTER_MAX_LENGTH}
      placeholder="Filter…"
      value={value}
      onChange={(event) => column.setFilterValue(event.target.value || undefined)}
    />
  );
}
