import type { Column } from "@tanstack/react-table";
import type { Card } from "../types";

/** Columns that cannot be hidden: the selection, and the account that opens Details. */
const ALWAYS_SHOWN = new Set(["select", "account_name", "state"]);

/** Show or hide the list's columns. The state column follows "Show actioned" instead. */
export function ColumnsMenu({
  columns,
  hidden,
  onChange,
}: {
  columns: Column<Card, unknown>[];
  hidden: string[];
  onChange: (hidden: string[]) => void;
}) {
  const choices = columns.filter((column) => !ALWAYS_SHOWN.has(column.id));
  return (
    <details className="columns-menu">
      <summary className="btn btn-small">
        Columns{hidden.length > 0 ? ` (${hidden.length} hidden)` : ""}
      </summary>
      <fieldset className="columns-menu-list">
        <legend className="visually-hidden">Columns shown</legend>
        {choices.map((column) => {
          const label = typeof column.columnDef.header === "string" ? column.columnDef.header : column.id;
          return (
            <label key={column.id} className="inline-field">
              <input
                type="checkbox"
                checked={!hidden.includes(column.id)}
                onChange={(event) =>
                  onChange(event.target.checked ? hidden.filter((id) => id !== column.id) : [...hidden, column.id])
                }
              />
              <span>Show {label}</span>
            </label>
          );
        })}
      </fieldset>
    </details>
  );
}
