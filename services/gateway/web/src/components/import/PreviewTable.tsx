import type { ImportInspection } from "../../types";

export default function PreviewTable({ inspection, highlight = {} }: { inspection: ImportInspection; highlight?: Record<string, string> }) {
  const { columns, rows } = inspection.preview;
  return (
    <div className="preview-scroller" tabIndex={0} role="region" aria-label="File preview">
      <table className="grid grid-compact">
        <thead>
          <tr>
            {columns.map((column) => (
              <th key={column.name} scope="col" className={highlight[column.name] ? "col-mapped" : undefined}>
                <div>{column.name}</div>
                <div className="muted small">{highlight[column.name] ?? column.inferred_type}</div>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.slice(0, 8).map((row, index) => (
            <tr key={index}>
              {columns.map((column, ci) => (
                <td key={column.name} className={highlight[column.name] ? "col-mapped" : undefined}>
                  {row[ci] ?? ""}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
