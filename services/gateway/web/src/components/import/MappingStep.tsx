import { useMemo } from "react";
import { qty } from "../../format";
import type { ColumnMapping, ImportInspection, RowFilter } from "../../types";
import ColumnSelect from "./ColumnSelect";
import { MODES, columnRoles, mappingProblems, previewUsage } from "./mapping";
import PreviewTable from "./PreviewTable";

export default function MappingStep({
  inspection,
  mapping,
  setMapping,
  onBack,
  onNext,
}: {
  inspection: ImportInspection;
  mapping: ColumnMapping;
  setMapping: (m: ColumnMapping) => void;
  onBack: () => void;
  onNext: () => void;
}) {
  const columns = inspection.preview.columns.map((c) => c.name);
  const set = (patch: Partial<ColumnMapping>) => setMapping({ ...mapping, ...patch });
  const problems = mappingProblems(mapping);
  const live = useMemo(() => (problems.length ? null : previewUsage(inspection, mapping)), [inspection, mapping, problems.length]);
  const highlight = columnRoles(mapping);
  const needsQuantity = mapping.quantity_mode === "column_value" || mapping.quantity_mode === "sum_per_sku";
  const roles = inspection.suggestion?.roles ?? {};

  return (
    <div>
      <h2 className="step-title">Map the columns</h2>
      {inspection.profile ? (
        <p className="banner banner-info">
          This file's header matches the saved profile “{inspection.profile.name}” for {inspection.profile.vendor}: its mapping is filled in.
        </p>
      ) : Object.keys(roles).length > 0 && (
        <p className="muted small">
          Suggested from the header and the content:{" "}
          {Object.entries(roles)
            .map(([role, c]) => `${role} ← ${c.column} (${c.reason})`)
            .join("; ")}
          .
        </p>
      )}
      <div className="mapping-layout">
        <div className="mapping-form">
          <ColumnSelect id="map-account" label="Account name" value={mapping.account_column} columns={columns} onChange={(v) => set({ account_column: v ?? "" })} />
          <ColumnSelect id="map-account-id" label="Account id" optional value={mapping.account_id_column} columns={columns} onChange={(v) => set({ account_id_column: v })} />
          <ColumnSelect id="map-sku" label="SKU or product" optional value={mapping.sku_column} columns={columns} onChange={(v) => set({ sku_column: v })} />
          {!mapping.sku_column && (
            <div className="field">
              <label htmlFor="map-sku-constant">Single product name</label>
              <input
                id="map-sku-constant"
                value={mapping.sku_constant ?? ""}
                placeholder="e.g. Managed EDR agent"
                onChange={(e) => set({ sku_constant: e.target.value || null })}
              />
              <div className="hint">For files about one product only (an agent or device list).</div>
            </div>
          )}
          <fieldset className="field">
            <legend>Quantity</legend>
            {MODES.map((mode) => (
              <label key={mode.value} className="radio">
                <input
                  type="radio"
                  name="quantity-mode"
                  value={mode.value}
                  checked={mapping.quantity_mode === mode.value}
                  onChange={() => set({ quantity_mode: mode.value })}
                />
                <span>
                  {mode.label}
                  <span className="muted small"> — {mode.hint}</span>
                </span>
              </label>
            ))}
          </fieldset>
          {needsQuantity && (
            <ColumnSelect id="map-quantity" label="Quantity column" value={mapping.quantity_column} columns={columns} onChange={(v) => set({ quantity_column: v })} />
          )}
          {mapping.quantity_mode === "distinct_count" && (
            <ColumnSelect id="map-distinct" label="Count distinct values of" value={mapping.distinct_column} columns={columns} onChange={(v) => set({ distinct_column: v })} />
          )}
          <details className="more">
            <summary>Price, cost and date (optional)</summary>
            <ColumnSelect id="map-price" label="Unit price" optional value={mapping.price_column} columns={columns} onChange={(v) => set({ price_column: v })} />
            <ColumnSelect id="map-cost" label="Unit cost" optional value={mapping.cost_column} columns={columns} onChange={(v) => set({ cost_column: v })} />
            <ColumnSelect id="map-date" label="Date" optional value={mapping.date_column} columns={columns} onChange={(v) => set({ date_column: v })} />
          </details>
          <fieldset className="field">
            <legend>Only rows where</legend>
            {mapping.filters.map((filter, index) => (
              <div className="filter-edit" key={index}>
                <select
                  aria-label={`Filter ${index + 1} column`}
                  value={filter.column}
                  onChange={(e) => set({ filters: mapping.filters.map((f, i) => (i === index ? { ...f, column: e.target.value } : f)) })}
                >
                  <option value="">Column…</option>
                  {columns.map((c) => (
                    <option key={c} value={c}>
                      {c}
                    </option>
                  ))}
                </select>
                <select
                  aria-label={`Filter ${index + 1} operator`}
                  value={filter.operator}
                  onChange={(e) =>
                    set({
                      filters: mapping.filters.map((f, i) =>
                        i === index ? { ...f, operator: e.target.value as RowFilter["operator"], values: e.target.value === "not_empty" ? [] : f.values } : f,
                      ),
                    })
                  }
                >
                  <option value="equals">equals</option>
                  <option value="not_equals">does not equal</option>
                  <option value="in">is one of</option>
                  <option value="not_in">is none of</option>
                  <option value="contains">contains</option>
                  <option value="not_empty">is not empty</option>
                </select>
                {filter.operator !== "not_empty" && (
                  <input
                    aria-label={`Filter ${index + 1} value`}
                    placeholder={filter.operator.endsWith("in") ? "a, b, c" : "value"}
                    value={filter.values.join(", ")}
                    onChange={(e) =>
                      set({
                        filters: mapping.filters.map((f, i) =>
                          i === index
                            ? { ...f, values: f.operator.endsWith("in") ? e.target.value.split(",").map((v) => v.trim()) : [e.target.value] }
                            : f,
                        ),
                      })
                    }
                  />
                )}
                <button
                  type="button"
                  className="icon-button"
                  aria-label={`Remove filter ${index + 1}`}
                  onClick={() => set({ filters: mapping.filters.filter((_, i) => i !== index) })}
                >
                  ×
                </button>
              </div>
            ))}
            <button
              type="button"
              className="btn btn-small"
              onClick={() => set({ filters: [...mapping.filters, { column: "", operator: "equals", values: [""] }] })}
            >
              Add a row filter
            </button>
          </fieldset>
        </div>
        <div className="mapping-preview" aria-live="polite">
          <h3>What this imports (first rows)</h3>
          {problems.length ? (
            <ul className="problems">
              {problems.map((p) => (
                <li key={p}>{p}</li>
              ))}
            </ul>
          ) : live ? (
            <>
              <table className="mini-table" data-testid="live-preview">
                <thead>
                  <tr>
                    <th scope="col">Vendor account</th>
                    <th scope="col">SKU</th>
                    <th scope="col" className="num">
                      Quantity
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {live.usage.slice(0, 12).map((u) => (
                    <tr key={`${u.account}:${u.sku}`}>
                      <td>{u.account}</td>
                      <td className="small">{u.sku}</td>
                      <td className="num">{qty(u.quantity)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {live.usage.length === 0 && <p className="muted small">No preview row passes the filters.</p>}
              {live.withoutAccount > 0 && (
                <p className="muted small">
                  {live.withoutAccount} row{live.withoutAccount === 1 ? "" : "s"} without an account (totals or blank lines) will be ignored.
                </p>
              )}
              {live.issues.length > 0 && (
                <ul className="problems">
                  {live.issues.slice(0, 4).map((p) => (
                    <li key={p}>{p}</li>
                  ))}
                </ul>
              )}
            </>
          ) : null}
        </div>
      </div>
      <PreviewTable inspection={inspection} highlight={highlight} />
      <div className="step-actions">
        <button type="button" className="btn" onClick={onBack}>
          Back
        </button>
        <button type="button" className="btn btn-primary" disabled={problems.length > 0} onClick={onNext}>
          Next: review
        </button>
      </div>
    </div>
  );
}
