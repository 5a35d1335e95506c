import { errorMessage } from "../../api";
import type { ColumnMapping, ImportInspection, RowError } from "../../types";
import { VendorTag } from "../ui";
import { MODES } from "./mapping";

export default function ReviewStep({
  inspection,
  mapping,
  vendor,
  profileName,
  setProfileName,
  skipInvalid,
  setSkipInvalid,
  rowErrors,
  error,
  busy,
  onBack,
  onCommit,
}: {
  inspection: ImportInspection;
  mapping: ColumnMapping;
  vendor: string;
  profileName: string;
  setProfileName: (v: string) => void;
  skipInvalid: boolean;
  setSkipInvalid: (v: boolean) => void;
  rowErrors: RowError[] | null;
  error: unknown;
  busy: boolean;
  onBack: () => void;
  onCommit: () => void;
}) {
  const mode = MODES.find((m) => m.value === mapping.quantity_mode)?.label ?? mapping.quantity_mode;
  return (
    <div>
      <h2 className="step-title">Review and save</h2>
      <dl className="facts facts-wide">
        <dt>File</dt>
        <dd>{inspection.detection.file_name}</dd>
        <dt>Vendor</dt>
        <dd>{vendor ? <VendorTag vendor={vendor} /> : <span className="muted">none (the service lines keep their tags)</span>}</dd>
        <dt>Account</dt>
        <dd>
          {mapping.account_column}
          {mapping.account_id_column ? ` (id: ${mapping.account_id_column})` : ""}
        </dd>
        <dt>SKU</dt>
        <dd>{mapping.sku_column ?? `“${mapping.sku_constant ?? ""}” for every row`}</dd>
        <dt>Quantity</dt>
        <dd>
          {mode}
          {mapping.quantity_column ? ` of ${mapping.quantity_column}` : ""}
          {mapping.distinct_column ? ` of ${mapping.distinct_column}` : ""}
        </dd>
        {mapping.filters.length > 0 && (
          <>
            <dt>Rows</dt>
            <dd>{mapping.filters.map((f) => `${f.column} ${f.operator.replace("_", " ")} ${f.values.join(", ")}`).join("; ")}</dd>
          </>
        )}
      </dl>

      {rowErrors && (
        <div className="validation" role="alert">
          <h3>
            {rowErrors.length} row error{rowErrors.length === 1 ? "" : "s"} found
          </h3>
          <p className="muted small">{errorMessage(error)}</p>
          <div className="preview-scroller">
            <table className="mini-table" data-testid="row-errors">
              <thead>
                <tr>
                  <th scope="col" className="num">
                    Row
                  </th>
                  <th scope="col">Column</th>
                  <th scope="col">Value</th>
                  <th scope="col">Problem</th>
                </tr>
              </thead>
              <tbody>
                {rowErrors.slice(0, 200).map((e, i) => (
                  <tr key={i}>
                    <td className="num">{e.row}</td>
                    <td>{e.column ?? "—"}</td>
                    <td className="mono small">{e.value ?? ""}</td>
                    <td>{e.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <p className="small">Fix the file and upload it again, or skip these rows and import the rest.</p>
        </div>
      )}

      <div className="field-row">
        <div className="field">
          <label htmlFor="profile-name">Save as import profile</label>
          <input id="profile-name" value={profileName} onChange={(e) => setProfileName(e.target.value)} placeholder="Leave empty to not save" />
          <div className="hint">The next file with the same header from this vendor is imported with these settings.</div>
        </div>
      </div>
      <label className="checkbox">
        <input type="checkbox" checked={skipInvalid} onChange={(e) => setSkipInvalid(e.target.checked)} />
        <span>Skip invalid rows and import the rest</span>
      </label>
      <div className="step-actions">
        <button type="button" className="btn" onClick={onBack}>
          Back
        </button>
        <button type="button" className="btn btn-primary" disabled={busy} onClick={onCommit}>
          {busy ? "Checking…" : "Import"}
        </button>
      </div>
    </div>
  );
}
