import type { Row } from "@tanstack/react-table";
import { useVirtualizer } from "@tanstack/react-virtual";
import { useCallback, useMemo } from "react";
import type { Card } from "../types";
import { GridRow, ROW_HEIGHT, rowHeight, rowState } from "./GridRow";

/**
 * The list's rows: those in the window and a few either side, between two spacers. A
 * component of its own because scrolling re-renders it every frame; the rest of the list
 * page (its head, filters and bulk bar) re-renders only when what it shows changes.
 */
export function GridBody({
  rows,
  scroller,
  columns,
  moneyColumns,
}: {
  rows: Row<Card>[];
  /** The element that scrolls: a value, not a ref, so that the rows follow once it exists. */
  scroller: HTMLElement | null;
  /** The ids of the columns shown, in order. */
  columns: string;
  /** The ids of the money columns shown. */
  moneyColumns: string;
}) {
  const money = useMemo(() => (moneyColumns ? moneyColumns.split(",") : []), [moneyColumns]);
  // The virtualiser works its rows' places out again when this key function changes: when the
  // rows do, or the money columns shown (a group's height follows its totals' lines).
  const getItemKey = useCallback((index: number) => rows[index]?.id ?? index, [rows, money]);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller,
    estimateSize: (index) => (rows[index] ? rowHeight(rows[index], money) : ROW_HEIGHT),
    getItemKey,
    overscan: 12,
  });
  const items = virtualizer.getVirtualItems();
  const span = columns.split(",").length;
  const padTop = items[0]?.start ?? 0;
  const padBottom = items.length ? virtualizer.getTotalSize() - (items[items.length - 1]?.end ?? 0) : 0;
  return (
    <tbody>
      {padTop > 0 && (
        <tr aria-hidden="true">
          <td colSpan={span} style={{ height: padTop, padding: 0, border: 0 }} />
        </tr>
      )}
      {items.map((item) => {
        const row = rows[item.index];
        if (!row) return null;
        return <GridRow key={row.id} row={row} height={item.size} state={rowState(row, columns)} />;
      })}
      {padBottom > 0 && (
        <tr aria-hidden="true">
          <td colSpan={span} style={{ height: padBottom, padding: 0, border: 0 }} />
        </tr>
      )}
    </tbody>
  );
}
