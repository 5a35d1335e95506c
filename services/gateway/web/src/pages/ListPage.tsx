import {
  flexRender,
  getCoreRowModel,
  getExpandedRowModel,
  getFilteredRowModel,
  getGroupedRowModel,
  getSortedRowModel,
  useReactTable,
  functionalUpdate,
  type ColumnDef,
  type ColumnFiltersState,
  type ColumnSizingState,
  type ExpandedState,
  type GroupingState,
  type RowSelectionState,
  type VisibilityState,
} from "@tanstack/react-table";
import { useCallback, useMemo, useRef, useState } from "react";
import { useCardActions, type BulkAction } from "../cardActions";
import { useCards } from "../cards";
import { DetailsModal } from "../components/DetailsModal";
import { EmptyState, ErrorBanner, PageHeader, Spinner } from "../components/ui";
import { todayIso } from "../format";
import { navigate } from "../router";
import { GridBody } from "../components/GridBody";
import { useFillWindow } from "../components/useFillWindow";
import { ColumnFilter, FLEXIBLE, FLEXIBLE_MIN, isMoney, isNumeric, listColumns } from "../components/listColumns";
import { ColumnsMenu } from "../components/ColumnsMenu";
import { CyclePicker } from "../components/CyclePicker";
import { useSelectedCycle } from "../cycles";
import { ClosedCyclePage } from "./ClosedCyclePage";
import { ListFooter } from "../components/ListFooter";
import { useSavedListView, type GroupBy } from "../listView";
import type { Card } from "../types";

export default function ListPage({ userKey = "" }: { userKey?: string }) {
  const cycle = useSelectedCycle();
  return cycle ? <ClosedCyclePage start={cycle} layout="list" /> : <CurrentList userKey={userKey} />;
}

function CurrentList({ userKey }: { userKey: string }) {
  const saved = useSavedListView(userKey);
  const { view, update } = saved;
  const showHidden = view.show_actioned;
  const showUnchanged = view.show_unchanged;
  const cards = useCards(showHidden ? { include_hidden: true } : { state: "pending" });
  const actions = useCardActions();
  const sorting = view.sorting;
  const sizing = view.column_widths;
  const filters: ColumnFiltersState = view.filters;
  const [selection, setSelection] = useState<RowSelectionState>({});
  const [expanded, setExpanded] = useState<ExpandedState>(true);
  const [details, setDetails] = useState<Card | null>(null);
  const [effectiveDate, setEffectiveDate] = useState(todayIso());

  const data = useMemo(
    () => (cards.data?.items ?? []).filter((card) => showUnchanged || card.kind !== "no_change"),
    [cards.data, showUnchanged],
  );
  const groupBy = view.group_by;
  const grouping: GroupingState = useMemo(() => (groupBy === "none" ? [] : [groupBy]), [groupBy]);
  const visibility = useMemo(() => {
    const hidden: VisibilityState = Object.fromEntries(view.hidden_columns.map((id) => [id, false]));
    return { ...hidden, state: showHidden };
  }, [view.hidden_columns, showHidden]);

  const columns = useMemo<ColumnDef<Card>[]>(() => listColumns(setDetails), []);

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
      columnVisibility: visibility,
    },
    // Whole pixels: the gateway keeps widths as integers.
    onColumnSizingChange: (updater) =>
      update({ column_widths: roundedWidths(functionalUpdate(updater, sizing)) }),
    columnResizeMode: "onChange",
    enableColumnResizing: true,
    getRowId: (card) => card.card_id,
    onSortingChange: (updater) => update({ sorting: functionalUpdate(updater, sorting) }),
    onColumnFiltersChange: (updater) => update({ filters: savedFilters(functionalUpdate(updater, filters)) }),
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
  const scroller = useRef<HTMLDivElement | null>(null);
  const [scrollElement, setScrollElement] = useState<HTMLDivElement | null>(null);
  const scrollerRef = useCallback((element: HTMLDivElement | null) => {
    scroller.current = element;
    setScrollElement(element);
  }, []);
  const showsGrid = !cards.isPending && !(data.length === 0 && !cards.isError);
  useFillWindow(scroller, showsGrid);

  const filtered = table.getFilteredRowModel().rows;
  const selected = table.getSelectedRowModel().flatRows.filter((row) => !row.getIsGrouped()).map((row) => row.original);
  // Selected rows that a filter hides must not be actioned by surprise.
  const visibleIds = useMemo(() => new Set(filtered.map((row) => row.id)), [filtered]);
  const actionable = selected.filter((card) => visibleIds.has(card.card_id));

  const runBulk = (action: BulkAction) => {
    if (actions.bulk(action, actionable, action === "set_effective_date" ? effectiveDate : undefined)) setSelection({});
  };

  const leafColumns = table.getVisibleLeafColumns();
  const visibleKey = leafColumns.map((column) => column.id).join(",");
  const moneyKey = leafColumns.filter(isMoney).map((column) => column.id).join(",");
  const tableMinWidth = leafColumns.reduce(
    (sum, column) => sum + (FLEXIBLE.has(column.id) && !(column.id in sizing) ? FLEXIBLE_MIN : column.getSize()),
    0,
  );
  // The totals add up every filtered card: worked out when the filter changes, not each time
  // the page renders (a card selected, a date typed).
  const footer = useMemo(
    () => <ListFooter columns={leafColumns} cards={filtered.map((row) => row.original)} />,
    // leafColumns is a new array every render; the ids it holds are what matter.
    [filtered, visibleKey],
  );

  return (
    <div className="page page-wide">
      <PageHeader
        title="List view"
        subtitle="Every card in one grid: group, filter, sort, and action many at once."
        actions={
          <>
            <CyclePicker />
            <label className="inline-field">
              <span>Group by</span>
              <select value={groupBy} onChange={(event) => update({ group_by: event.target.value as GroupBy })}>
                <option value="account_name">Account</option>
                <option value="service_line">Service line</option>
                <option value="contract_name">Contract</option>
                <option value="none">No grouping</option>
              </select>
            </label>
            <label className="inline-field">
              <input type="checkbox" checked={showUnchanged} onChange={(event) => update({ show_unchanged: event.target.checked })} />
              <span>Show unchanged lines</span>
            </label>
            <label className="inline-field">
              <input type="checkbox" checked={showHidden} onChange={(event) => update({ show_actioned: event.target.checked })} />
              <span>Show actioned</span>
            </label>
            <ColumnsMenu
              columns={table.getAllLeafColumns()}
              hidden={view.hidden_columns}
              // A filter on a column out of sight would hide rows without saying why.
              onChange={(hidden) =>
                update({ hidden_columns: hidden, filters: view.filters.filter((filter) => !hidden.includes(filter.id)) })
              }
            />
            <button type="button" className="btn btn-small btn-ghost" onClick={saved.reset}>
              Reset view
            </button>
          </>
        }
      />

      <div className={`bulk-bar${actionable.length ? " bulk-bar-active" : ""}`} role="region" aria-label="Bulk actions">
        <span className="bulk-count" aria-live="polite">
          {actionable.length ? `${actionable.length} selected` : "Select cards to action them together"}
        </span>
        <button type="button" className="btn btn-primary btn-small" disabled={!actionable.length} onClick={() => runBulk("approve")}>
          Approve selected
        </button>
        <button type="button" className="btn btn-small" disabled={!actionable.length} onClick={() => runBulk("dismiss")}>
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
          disabled={!actionable.length || !effectiveDate}
          onClick={() => runBulk("set_effective_date")}
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
      {cards.isPending || !saved.ready ? (
        <Spinner label="Loading cards" />
      ) : !showsGrid ? (
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
            <button type="button" className="btn btn-link" onClick={() => update({ show_unchanged: true })}>
              Show the {cards.data?.items.length} unchanged contract lines
            </button>
          )}
        </EmptyState>
      ) : (
        <div className="grid-scroller" ref={scrollerRef} tabIndex={0} aria-label="Cards grid">
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
            <GridBody rows={rows} scroller={scrollElement} columns={visibleKey} moneyColumns={moneyKey} />
            {footer}
          </table>
        </div>
      )}
      {details && <DetailsModal card={details} onClose={() => setDetails(null)} />}
    </div>
  );
}


/** The widest column the gateway keeps. */
const MAX_WIDTH = 2000;

function roundedWidths(sizing: ColumnSizingState): Record<string, number> {
  return Object.fromEntries(Object.entries(sizing).map(([id, width]) => [id, Math.min(MAX_WIDTH, Math.round(width))]));
}

/** Filters as the gateway keeps them: text values, none empty. */
function savedFilters(filters: ColumnFiltersState): { id: string; value: string }[] {
  return filters
    .filter((filter) => filter.value !== undefined && filter.value !== "")
    .map((filter) => ({ id: filter.id, value: String(filter.value) }));
}
