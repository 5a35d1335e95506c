export default function ColumnSelect({
  id,
  label,
  value,
  columns,
  onChange,
  optional,
}: {
  id: string;
  label: string;
  value: string | null | undefined;
  columns: string[];
  onChange: (value: string | null) => void;
  optional?: boolean;
}) {
  return (
    <div className="field">
      <label htmlFor={id}>
        {label}
        {optional && <span className="muted small"> (optional)</span>}
      </label>
      <select id={id} value={value ?? ""} onChange={(event) => onChange(event.target.value || null)}>
        <option value="">{optional ? "— none —" : "Choose a column"}</option>
        {columns.map((column) => (
          <option key={column} value={column}>
            {column}
          </option>
        ))}
      </select>
    </div>
  );
}
