import { flexRender, type Row } from "@tanstack/react-table";
import { memo } from "react";
import { shownAmounts } from "../format";
import type { Card } from "../types";
import { FLEXIBLE, groupTotal, isMoney, isNumeric } from "./listColumns";

/** The list view's row height: a card's, and the least a group's. */
export const ROW_HEIGHT = 40;
/** A line of a stacked money total in the grid (`.grid .sum-lines` in styles.css). */
const SUM_LINE = 16;
/** A grid cell's padding and bottom border (`.grid td`). */
const CELL_EDGES = 13;

/**
 * A row's height, exactly as it is drawn: the virtualiser places rows by it. A group's money
 * totals take a line per currency; an estimate would leave every row after a group shifted
 * on screen, moved (and repainted) again each time a group scrolls out of the window.
 */
export function rowHeight(row: Row<Card>, moneyColumns: string[]): number {
  if (!row.getIsGrouped()) return ROW_HEIGHT;
  const lines = Math.max(1, ...moneyColumns.map((id) => shownAmounts(groupTotal(row, id)).length));
  return Math.max(ROW_HEIGHT, lines * SUM_LINE + CELL_EDGES);
}

/** Columns a group row leaves to the group's name. */
const NAMED_BY_GROUP = new Set(["service_line", "contract_name"]);

/** What a row's markup depends on besides the row itself: selection, expansion, columns. */
export function rowState(row: Row<Card>, visibleColumns: string): string {
  const selected = row.getIsGrouped() ? `${row.getIsAllSubRowsSelected()}${row.getIsSomeSelected()}` : `${row.getIsSelected()}`;
  return `${selected}|${row.getIsExpanded()}|${visibleColumns}`;
}

/**
 * One grid row. Memoised: scrolling re-renders the grid's body every frame, and only the rows
 * entering the window need rendering (5,000 cards grouped by account scrolled at 40 fps).
 */
export const GridRow = memo(function GridRow({ row, height }: { row: Row<Card>; height: number; state: string }) {
    if (row.getIsGrouped()) {
      const cells = row.getVisibleCells();
      // The group's name spans the text columns that are shown (a user may hide some).
      const span = 1 + cells.filter((cell) => NAMED_BY_GROUP.has(cell.column.id)).length;
      return (
        <tr key={row.id} className="group-row" style={{ height }}>
          {cells.map((cell) => {
            if (cell.column.id === "select") {
              return <td key={cell.id}>{flexRender(cell.column.columnDef.cell, cell.getContext())}</td>;
            }
            if (cell.column.id === "account_name") {
              return (
                <td key={cell.id} colSpan={span} title={String(row.groupingValue ?? "")}>
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
            if (NAMED_BY_GROUP.has(cell.column.id)) return null;
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
      <tr key={row.id} className={row.getIsSelected() ? "selected" : undefined} style={{ height }}>
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
});
