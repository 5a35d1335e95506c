import {
  flexRender,
  getCoreRowModel,
  getExpandedRowModel,
  getFilteredRowModel,
  getGroupedRowModel,
  getSortedRowModel,
  useReactTable,
  type Column,
  type ColumnDef,
  type ExpandedState,
  type GroupingState,
  type Row,
  type RowSelectionState,
  type SortingState,
  type ColumnFiltersState,
  type ColumnSizingState,
} from "@tanstack/react-table";
import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useMemo, useRef, useState, type HTMLProps } from "react";
import { useCardActions, useCards } from "../cards";
import { DetailsModal } from "../components/DetailsModal";
import { EmptyState, ErrorBanner, PageHeader, Spinner, VendorTag } from "../components/ui";
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
  todayIso,
  tone,
  vendorsOf,
  type CurrencyAmount,
} from "../format";
import { navigate } from "../router";
import type { Card } from "../types";

type GroupBy = "none" | "account_name" | "service_line" | "contract_name";

const ROW_HEIGHT = 40;
/** Wide enough for "+CA$99,999.99": a money figure is never cut (its column can widen). */
const MONEY_WIDTH = 140;
/** The least a text column shrinks to before the grid scrolls sideways. */
const FLEXIBLE_MIN = 110;
/** Text columns share the width the fixed-size columns leave. */
const FLEXIBLE = new Set(["account_name", "service_line", "contract_name"]);

function IndeterminateCheckbox({ indeterminate, ...rest }: { indeterminate?: boolean } & HTMLProps<HTMLInputElement>) {
  const ref = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (ref.current) ref.current.indeterminate = Boolean(indeterminate) && !rest.checked;
  }, [indeterminate, rest.checked]);
  return <input type="checkbox" ref={ref} {...rest} />;
}

const leaves = (row: Row<Card>): Card[] => row.getLeafRows().map((leaf) => leaf.original);

/** "+$2,956.80 per quarter" on a card whose contract bills other than monthly. */
function periodTitle(card: Card): string | undefined {
  if ((card.period_months ?? 1) <= 1 || card.period_change == null) return undefined;
  return `${money(card.period_change, card.currency ?? "USD", true)} ${perPeriod(card.billing_cycle)}`;
}

/** A quantity total where the cards count one thing (one service line); none otherwise. */
function QuantitySum({
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

export default function ListPage() {
  const [showHidden, setShowHidden] = useState(false);
  const [showUnchanged, setShowUnchanged] = useState(false);
  const cards = useCards(showHidden ? { include_hidden: true } : { state: "pending" });
  const actions = useCardActions();
  const [groupBy, setGroupBy] = useState<GroupBy>("account_name");
  const [sorting, setSorting] = useState<SortingState>([]);
  const [filters, setFilters] = useState<ColumnFiltersState>([]);
  const [selection, setSelection] = useState<RowSelectionState>({});
  const [sizing, setSizing] = useState<ColumnSizingState>({});
  const [expanded, setExpanded] = useState<ExpandedState>(true);
  const [details, setDetails] = useState<Card | null>(null);
  const [effectiveDate, setEffectiveDate] = useState(todayIso());
  const [busy, setBusy] = useState(false);

  const data = useMemo(
    () => (cards.data?.items ?? []).filter((card) => showUnchanged || card.kind !== "no_change"),
    [cards.data, showUnchanged],
  );
  const grouping: GroupingState = useMemo(() => (groupBy === "none" ? [] : [groupBy]), [groupBy]);

  const columns = useMemo<ColumnDef<Card>[]>(
    () => [
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
              onClick={() => setDetails(row.original)}
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
        aggregatedCell: ({ row }) => <Sum rows={sumByCurrency(leaves(row), (card) => card.mrr_change)} />,
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
        aggregatedCell: ({ row }) => <Sum rows={sumByCurrency(leaves(row), (card) => card.mrr_profit_change)} />,
      },
      {
        accessorKey: "state",
        header: "State",
        size: 88,
        filterFn: "equalsString",
        cell: ({ getValue }) => <span className={`pill pill-${String(getValue())}`}>{titleCase(String(getValue()))}</span>,
      },
    ],
    [],
  );

  const table = useReactTable({
    data,
    columns,
    state: {
      sorting,
      columnFilters: filters,
      rowSelection: selection,
      grouping,
      expanded,
      columnSizing: sizing,
      columnVisibility: { state: showHidden },
    },
    onColumnSizingChange: setSizing,
    columnResizeMode: "onChange",
    enableColumnResizing: true,
    getRowId: (card) => card.card_id,
    onSortingChange: setSorting,
    onColumnFiltersChange: setFilters,
    onRowSelectionChange: setSelection,
    onExpandedChange: setExpanded,
    enableRowSelection: true,
    enableSubRowSelection: true,
    groupedColumnMode: false,
    autoResetExpanded: false,
    getCoreRowModel: getCoreRowModel(),
    getFilteredRowModel: getFilteredRowModel(),
    getSortedRowModel: getSortedRowModel(),
    getGroupedRowModel: getGroupedRowModel(),
    getExpandedRowModel: getExpandedRowModel(),
  });

  const rows = table.getRowModel().rows;
  const scroller = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
  });
  const items = virtualizer.getVirtualItems();
  const padTop = items[0]?.start ?? 0;
  const padBottom = items.length ? virtualizer.getTotalSize() - (items[items.length - 1]?.end ?? 0) : 0;

  const filtered = table.getFilteredRowModel().rows;
  const selected = table.getSelectedRowModel().flatRows.filter((row) => !row.getIsGrouped()).map((row) => row.original);
  // Selected rows that a filter hides must not be actioned by surprise.
  const visibleIds = useMemo(() => new Set(filtered.map((row) => row.id)), [filtered]);
  const actionable = selected.filter((card) => visibleIds.has(card.card_id));

  const runBulk = async (action: "approve" | "dismiss" | "set_effective_date") => {
    setBusy(true);
    try {
      await actions.bulk(action, actionable, action === "set_effective_date" ? effectiveDate : undefined);
      setSelection({});
    } catch {
      // The toast already says what went wrong.
    } finally {
      setBusy(false);
    }
  };

  const leafColumns = table.getVisibleLeafColumns();
  const tableMinWidth = leafColumns.reduce(
    (sum, column) => sum + (FLEXIBLE.has(column.id) && !(column.id in sizing) ? FLEXIBLE_MIN : column.getSize()),
    0,
  );
  // The totals add up every filtered card: worked out when the filter changes, not on every
  // scrolled frame (5,000 cards scroll at 44 fps otherwise).
  const footer = useMemo(() => {
    const filteredCards = filtered.map((row) => row.original);
    const revenueTotal = sumByCurrency(filteredCards, (card) => card.mrr_change);
    const profitTotal = sumByCurrency(filteredCards, (card) => card.mrr_profit_change);
    return (
      <tfoot>
        <tr className="totals-row">
          <th scope="row" colSpan={5}>
            Total · {filtered.length} card{filtered.length === 1 ? "" : "s"}
          </th>
          <td className="num">
            <QuantitySum cards={filteredCards} value={(card) => card.psa_quantity} />
          </td>
          <td className="num">
            <QuantitySum cards={filteredCards} value={(card) => card.vendor_quantity} />
          </td>
          <td className="num" data-testid="total-delta">
            <QuantitySum cards={filteredCards} value={(card) => card.delta} signed />
          </td>
          <td className="num" data-money>
            <Sum rows={revenueTotal} testId="total-revenue" />
          </td>
          <td className="num" data-money>
            <Sum rows={profitTotal} />
          </td>
          {showHidden && <td />}
        </tr>
      </tfoot>
    );
  }, [filtered, showHidden]);

  return (
    <div className="page page-wide">
      <PageHeader
        title="List view"
        subtitle="Every card in one grid: group, filter, sort, and action many at once."
        actions={
          <>
            <label className="inline-field">
              <span>Group by</span>
              <select value={groupBy} onChange={(event) => setGroupBy(event.target.value as GroupBy)}>
                <option value="account_name">Account</option>
                <option value="service_line">Service line</option>
                <option value="contract_name">Contract</option>
                <option value="none">No grouping</option>
              </select>
            </label>
            <label className="inline-field">
              <input type="checkbox" checked={showUnchanged} onChange={(event) => setShowUnchanged(event.target.checked)} />
              <span>Show unchanged lines</span>
            </label>
            <label className="inline-field">
              <input type="checkbox" checked={showHidden} onChange={(event) => setShowHidden(event.target.checked)} />
              <span>Show actioned</span>
            </label>
          </>
        }
      />

      <div className={`bulk-bar${actionable.length ? " bulk-bar-active" : ""}`} role="region" aria-label="Bulk actions">
        <span className="bulk-count" aria-live="polite">
          {actionable.length ? `${actionable.length} selected` : "Select cards to action them together"}
        </span>
        <button type="button" className="btn btn-primary btn-small" disabled={!actionable.length || busy} onClick={() => void runBulk("approve")}>
          Approve selected
        </button>
        <button type="button" className="btn btn-small" disabled={!actionable.length || busy} onClick={() => void runBulk("dismiss")}>
          Dismiss selected
        </button>
        <span className="bulk-sep" aria-hidden="true" />
        <label className="inline-field">
          <span>Effective date</span>
          <input type="date" value={effectiveDate} onChange={(event) => setEffectiveDate(event.target.value)} />
        </label>
        <button
          type="button"
          className="btn btn-small"
          disabled={!actionable.length || busy || !effectiveDate}
          onClick={() => void runBulk("set_effective_date")}
        >
          Set effective date
        </button>
        {actionable.length > 0 && (
          <button type="button" className="btn btn-link btn-small" onClick={() => setSelection({})}>
            Clear selection
          </button>
        )}
      </div>

      <ErrorBanner error={cards.error} onRetry={() => void cards.refetch()} />
      {cards.isPending ? (
        <Spinner label="Loading cards" />
      ) : data.length === 0 && !cards.isError ? (
        <EmptyState
          title="No differences to review"
          actions={
            <button type="button" className="btn btn-primary" onClick={() => navigate("/import")}>
              Import a vendor CSV
            </button>
          }
        >
          Cards appear when your PSA contracts and your vendors' usage disagree.{" "}
          {(cards.data?.items.length ?? 0) > 0 && (
            <button type="button" className="btn btn-link" onClick={() => setShowUnchanged(true)}>
              Show the {cards.data?.items.length} unchanged contract lines
            </button>
          )}
        </EmptyState>
      ) : (
        <div className="grid-scroller" ref={scroller} tabIndex={0} aria-label="Cards grid">
          <table className="grid" aria-rowcount={rows.length + 2} style={{ minWidth: tableMinWidth }}>
            <colgroup>
              {leafColumns.map((column) => (
                // A text column shares the spare width until someone sets its width by hand.
                <col key={column.id} style={FLEXIBLE.has(column.id) && !(column.id in sizing) ? undefined : { width: column.getSize() }} />
              ))}
            </colgroup>
            <thead>
              {table.getHeaderGroups().map((group) => (
                <tr key={group.id}>
                  {group.headers.map((header) => {
                    const sorted = header.column.getIsSorted();
                    const numeric = isNumeric(header.column);
                    return (
                      <th
                        key={header.id}
                        scope="col"
                        className={numeric ? "num" : undefined}
                        aria-sort={sorted === "asc" ? "ascending" : sorted === "desc" ? "descending" : undefined}
                      >
                        {header.column.getCanSort() ? (
                          <button type="button" className="sort-button" onClick={header.column.getToggleSortingHandler()}>
                            {flexRender(header.column.columnDef.header, header.getContext())}
                            <span className="sort-mark" aria-hidden="true">
                              {sorted === "asc" ? "▲" : sorted === "desc" ? "▼" : "↕"}
                            </span>
                          </button>
                        ) : (
                          flexRender(header.column.columnDef.header, header.getContext())
                        )}
                        {header.column.getCanResize() && header.column.id !== "select" && (
                          <span
                            className={`col-resizer${header.column.getIsResizing() ? " resizing" : ""}`}
                            aria-hidden="true"
                            title="Drag to resize; double-click to reset"
                            onMouseDown={header.getResizeHandler()}
                            onTouchStart={header.getResizeHandler()}
                            onDoubleClick={() => header.column.resetSize()}
                          />
                        )}
                      </th>
                    );
                  })}
                </tr>
              ))}
              <tr className="filter-row">
                {leafColumns.map((column) => (
                  <th key={column.id} scope="col">
                    {column.getCanFilter() ? <ColumnFilter column={column} data={data} /> : null}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {padTop > 0 && (
                <tr aria-hidden="true">
                  <td colSpan={leafColumns.length} style={{ height: padTop, padding: 0, border: 0 }} />
                </tr>
              )}
              {items.map((item) => {
                const row = rows[item.index];
                if (!row) return null;
                if (row.getIsGrouped()) {
                  return (
                    <tr key={row.id} className="group-row" style={{ height: ROW_HEIGHT }}>
                      {row.getVisibleCells().map((cell) => {
                        if (cell.column.id === "select") {
                          return <td key={cell.id}>{flexRender(cell.column.columnDef.cell, cell.getContext())}</td>;
                        }
                        if (cell.column.id === "account_name") {
                          return (
                            <td key={cell.id} colSpan={3} title={String(row.groupingValue ?? "")}>
                              <button
                                type="button"
                                className="group-toggle"
                                aria-expanded={row.getIsExpanded()}
                                onClick={row.getToggleExpandedHandler()}
                              >
                                <span aria-hidden="true">{row.getIsExpanded() ? "▾" : "▸"}</span> {String(row.groupingValue) || "—"}{" "}
                                <span className="muted small">({row.subRows.length})</span>
                              </button>
                            </td>
                          );
                        }
                        if (cell.column.id === "service_line" || cell.column.id === "contract_name") return null;
                        return (
                          <td key={cell.id} className={isNumeric(cell.column) ? "num" : undefined} data-money={isMoney(cell.column) || undefined}>
                            {cell.getIsAggregated() ? flexRender(cell.column.columnDef.aggregatedCell ?? cell.column.columnDef.cell, cell.getContext()) : null}
                          </td>
                        );
                      })}
                    </tr>
                  );
                }
                return (
                  <tr key={row.id} className={row.getIsSelected() ? "selected" : undefined} style={{ height: ROW_HEIGHT }}>
                    {row.getVisibleCells().map((cell) => (
                      <td
                        key={cell.id}
                        className={isNumeric(cell.column) ? "num" : undefined}
                        data-money={isMoney(cell.column) || undefined}
                        // Text cut by a narrow column is still readable on hover.
                        title={FLEXIBLE.has(cell.column.id) ? String(cell.getValue() ?? "") : undefined}
                      >
                        {flexRender(cell.column.columnDef.cell, cell.getContext())}
                      </td>
                    ))}
                  </tr>
                );
              })}
              {padBottom > 0 && (
                <tr aria-hidden="true">
                  <td colSpan={leafColumns.length} style={{ height: padBottom, padding: 0, border: 0 }} />
                </tr>
              )}
            </tbody>
            {footer}
          </table>
        </div>
      )}
      {details && <DetailsModal card={details} onClose={() => setDetails(null)} />}
    </div>
  );
}

/** A money total, one line per currency (a narrow column cannot hold two side by side). */
function Sum({ rows, testId }: { rows: CurrencyAmount[]; testId?: string }) {
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

function isNumeric(column: Column<Card, unknown>): boolean {
  return Boolean((column.columnDef.meta as { numeric?: boolean } | undefined)?.numeric);
}

function isMoney(column: Column<Card, unknown>): boolean {
  return Boolean((column.columnDef.meta as { money?: boolean } | undefined)?.money);
}

function ColumnFilter({ column, data }: { column: Column<Card, unknown>; data: Card[] }) {
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
      placeholder="Filter…"
      value={value}
      onChange={(event) => column.setFilterValue(event.target.value || undefined)}
    />
  );
}
