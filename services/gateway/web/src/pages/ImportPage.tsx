import { useQuery, useQueryClient } from "@tanstack/react-query";
import { ImportResultEmpty } from "../components/UnmappedWaiting";
import { useEffect, useMemo, useState } from "react";
import { useDropzone } from "react-dropzone";
import { ApiError, api, errorMessage } from "../api";
import { fetchAllCards } from "../cards";
import { ErrorBanner, PageHeader, Spinner, VendorTag } from "../components/ui";
import { money, moneyList, num, perPeriod, qty, tone } from "../format";
import { navigate } from "../router";
import type { ColumnMapping, Detection, ImportInspection, ImportView, QuantityMode, RowError, RowFilter } from "../types";

const STEPS = ["Upload", "Settings", "Columns", "Review", "Import", "Changes"] as const;
const KNOWN_VENDORS = ["pax8", "microsoft", "ninjaone", "datto", "huntress", "sentinelone", "other"];
const FINAL_STATES = new Set(["completed", "failed", "unchanged"]);
const MAX_BYTES = 200 * 1024 * 1024;

type Settings = Pick<Detection, "encoding" | "delimiter" | "header_row" | "decimal_separator" | "thousands_separator">;

const EMPTY_MAPPING: ColumnMapping = { account_column: "", quantity_mode: "column_value", filters: [] };

export default function ImportPage() {
  const client = useQueryClient();
  const [step, setStep] = useState(0);
  const [file, setFile] = useState<File | null>(null);
  const [vendor, setVendor] = useState("");
  const [inspection, setInspection] = useState<ImportInspection | null>(null);
  const [settings, setSettings] = useState<Settings | null>(null);
  const [mapping, setMapping] = useState<ColumnMapping>(EMPTY_MAPPING);
  const [profileName, setProfileName] = useState("");
  const [skipInvalid, setSkipInvalid] = useState(false);
  const [rowErrors, setRowErrors] = useState<RowError[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [committedId, setCommittedId] = useState<string | null>(null);

  const upload = async (chosen: File, overrides?: Settings) => {
    setBusy(true);
    setError(null);
    try {
      const form = new FormData();
      form.append("file", chosen, chosen.name);
      if (vendor) form.append("vendor", vendor);
      if (overrides) {
        for (const [key, value] of Object.entries(overrides)) form.append(key, String(value));
      }
      const answer = await api.upload<ImportView>("/api/v1/imports", form);
      if (!answer.detection || !answer.preview) throw new Error(answer.error ?? "The file could not be read.");
      const result = answer as ImportInspection;
      setInspection(result);
      setSettings({
        encoding: result.detection.encoding,
        delimiter: result.detection.delimiter,
        header_row: result.detection.header_row,
        decimal_separator: result.detection.decimal_separator,
        thousands_separator: result.detection.thousands_separator,
      });
      if (result.vendor && !vendor) setVendor(result.vendor);
      const suggested = result.profile?.mapping ?? result.suggestion?.mapping ?? null;
      setMapping({ ...EMPTY_MAPPING, ...(suggested ?? {}), filters: suggested?.filters ?? [] });
      if (result.profile) setProfileName(result.profile.name);
      else if (!profileName) setProfileName(`${vendor || result.vendor || "vendor"} usage`);
      setRowErrors(null);
      setStep(overrides ? 2 : 1);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  const commit = async () => {
    if (!inspection) return;
    setBusy(true);
    setError(null);
    try {
      const id = inspection.import_id;
      await api.post(`/api/v1/imports/${encodeURIComponent(id)}/commit`, {
        mapping: cleanMapping(mapping),
        vendor: vendor || undefined,
        save_profile_as: profileName.trim() || undefined,
        skip_invalid_rows: skipInvalid,
      });
      setCommittedId(id);
      setStep(4);
    } catch (caught) {
      if (caught instanceof ApiError && caught.status === 422 && Array.isArray(caught.problem.errors)) {
        const errors = (caught.problem.errors as RowError[]).filter((e) => typeof e.row === "number");
        if (errors.length) {
          setRowErrors(errors);
          setError(caught);
          return;
        }
      }
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  const reset = () => {
    setStep(0);
    setFile(null);
    setInspection(null);
    setSettings(null);
    setMapping(EMPTY_MAPPING);
    setRowErrors(null);
    setError(null);
    setCommittedId(null);
    setSkipInvalid(false);
    void client.invalidateQueries({ queryKey: ["cards"] });
  };

  return (
    <div className="page">
      <PageHeader
        title="Import vendor usage"
        subtitle="Drop a vendor's usage or billing export. TrueUp detects its format, you check the columns, and the cards update."
        actions={
          <>
            {step > 0 && step < 4 && (
              <button type="button" className="btn btn-ghost" onClick={reset}>
                Start over
              </button>
            )}
            <a
              className="btn"
              href="/import/profiles"
              onClick={(event) => {
                if (event.metaKey || event.ctrlKey || event.shiftKey) return;
                event.preventDefault();
                navigate("/import/profiles");
              }}
            >
              Import profiles
            </a>
          </>
        }
      />
      <ol className="stepper" aria-label="Import steps">
        {STEPS.map((label, index) => (
          <li key={label} className={index === step ? "current" : index < step ? "done" : ""} aria-current={index === step ? "step" : undefined}>
            <span className="step-no" aria-hidden="true">
              {index < step ? "✓" : index + 1}
            </span>
            <span>{label}</span>
          </li>
        ))}
      </ol>

      {error && !rowErrors ? <ErrorBanner error={error} /> : null}

      <div className="panel">
        {step === 0 && (
          <UploadStep
            vendor={vendor}
            setVendor={setVendor}
            busy={busy}
            file={file}
            onFile={(chosen) => {
              setFile(chosen);
              void upload(chosen);
            }}
          />
        )}
        {step === 1 && inspection && settings && (
          <SettingsStep
            inspection={inspection}
            settings={settings}
            setSettings={setSettings}
            busy={busy}
            onBack={() => setStep(0)}
            onNext={(changed) => {
              if (changed && file) void upload(file, settings);
              else setStep(2);
            }}
          />
        )}
        {step === 2 && inspection && (
          <MappingStep inspection={inspection} mapping={mapping} setMapping={setMapping} onBack={() => setStep(1)} onNext={() => setStep(3)} />
        )}
        {step === 3 && inspection && (
          <ReviewStep
            inspection={inspection}
            mapping={mapping}
            vendor={vendor}
            profileName={profileName}
            setProfileName={setProfileName}
            skipInvalid={skipInvalid}
            setSkipInvalid={setSkipInvalid}
            rowErrors={rowErrors}
            error={rowErrors ? error : null}
            busy={busy}
            onBack={() => setStep(2)}
            onCommit={() => void commit()}
          />
        )}
        {step >= 4 && committedId && (
          <ProgressStep
            id={committedId}
            vendor={vendor}
            showChanges={step === 5}
            onFinished={() => setStep(5)}
            onAnother={reset}
          />
        )}
      </div>
    </div>
  );
}

function UploadStep({
  vendor,
  setVendor,
  busy,
  file,
  onFile,
}: {
  vendor: string;
  setVendor: (value: string) => void;
  busy: boolean;
  file: File | null;
  onFile: (file: File) => void;
}) {
  const [rejected, setRejected] = useState<string | null>(null);
  const { getRootProps, getInputProps, isDragActive, open } = useDropzone({
    multiple: false,
    maxSize: MAX_BYTES,
    noClick: true,
    accept: { "text/csv": [".csv"], "text/tab-separated-values": [".tsv"], "text/plain": [".txt"] },
    onDropAccepted: (files) => {
      setRejected(null);
      const first = files[0];
      if (first) onFile(first);
    },
    onDropRejected: (rejections) => {
      setRejected(rejections[0]?.errors[0]?.message ?? "This file cannot be imported.");
    },
  });
  return (
    <div className="upload-step">
      <div className="field field-inline">
        <label htmlFor="import-vendor">Vendor</label>
        <input
          id="import-vendor"
          list="vendor-options"
          value={vendor}
          placeholder="e.g. pax8"
          onChange={(event) => setVendor(event.target.value.trim().toLowerCase())}
        />
        <datalist id="vendor-options">
          {KNOWN_VENDORS.map((v) => (
            <option key={v} value={v} />
          ))}
        </datalist>
        <div className="hint">Imported service lines are tagged with this vendor. A saved profile for its header is used automatically.</div>
      </div>
      <div {...getRootProps({ className: `dropzone${isDragActive ? " dropzone-active" : ""}` })}>
        <input {...getInputProps({ "aria-label": "Usage file" })} data-testid="import-file" />
        <div className="dropzone-icon" aria-hidden="true">
          ⇪
        </div>
        {busy ? (
          <Spinner label={`Reading ${file?.name ?? "the file"}`} />
        ) : (
          <>
            <p className="dropzone-title">{isDragActive ? "Drop the file to read it" : "Drag a CSV or TSV export here"}</p>
            <p className="muted small">UTF-8, UTF-16 or Windows-1252; comma, semicolon, tab or pipe; up to 200 MB.</p>
            <button type="button" className="btn btn-primary" onClick={open}>
              Choose a file
            </button>
          </>
        )}
      </div>
      {rejected && (
        <div className="banner banner-error" role="alert">
          {rejected}
        </div>
      )}
    </div>
  );
}

const DELIMITERS: [string, string][] = [
  [",", "Comma ,"],
  [";", "Semicolon ;"],
  ["\t", "Tab"],
  ["|", "Pipe |"],
];

function SettingsStep({
  inspection,
  settings,
  setSettings,
  busy,
  onBack,
  onNext,
}: {
  inspection: ImportInspection;
  settings: Settings;
  setSettings: (s: Settings) => void;
  busy: boolean;
  onBack: () => void;
  onNext: (changed: boolean) => void;
}) {
  const d = inspection.detection;
  const changed =
    settings.encoding !== d.encoding ||
    settings.delimiter !== d.delimiter ||
    settings.header_row !== d.header_row ||
    settings.decimal_separator !== d.decimal_separator ||
    settings.thousands_separator !== d.thousands_separator;
  return (
    <div>
      <h2 className="step-title">Detected settings</h2>
      <p className="muted">
        TrueUp read <strong>{d.file_name ?? "the file"}</strong>
        {d.bom ? " (with a byte-order mark)" : ""}
        {d.preamble_rows ? `, skipping ${d.preamble_rows} line${d.preamble_rows === 1 ? "" : "s"} before the header` : ""}. Change a setting if the
        preview looks wrong.
      </p>
      <div className="settings-grid">
        <div className="field">
          <label htmlFor="set-encoding">Encoding</label>
          <select id="set-encoding" value={settings.encoding} onChange={(e) => setSettings({ ...settings, encoding: e.target.value })}>
            {[...new Set([d.encoding, "utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"])].map((enc) => (
              <option key={enc} value={enc}>
                {enc}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="set-delimiter">Delimiter</label>
          <select id="set-delimiter" value={settings.delimiter} onChange={(e) => setSettings({ ...settings, delimiter: e.target.value })}>
            {DELIMITERS.map(([value, label]) => (
              <option key={label} value={value}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="set-header">Header row</label>
          <input
            id="set-header"
            type="number"
            min={1}
            value={settings.header_row}
            onChange={(e) => setSettings({ ...settings, header_row: Math.max(1, Number(e.target.value) || 1) })}
          />
        </div>
        <div className="field">
          <label htmlFor="set-decimal">Decimal separator</label>
          <select
            id="set-decimal"
            value={settings.decimal_separator}
            onChange={(e) => setSettings({ ...settings, decimal_separator: e.target.value })}
          >
            <option value=".">Point .</option>
            <option value=",">Comma ,</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor="set-thousands">Thousands separator</label>
          <select
            id="set-thousands"
            value={settings.thousands_separator}
            onChange={(e) => setSettings({ ...settings, thousands_separator: e.target.value })}
          >
            <option value=",">Comma ,</option>
            <option value=".">Point .</option>
            <option value=" ">Space</option>
            <option value="'">Apostrophe '</option>
            <option value="">None</option>
          </select>
        </div>
      </div>
      <PreviewTable inspection={inspection} />
      <div className="step-actions">
        <button type="button" className="btn" onClick={onBack}>
          Back
        </button>
        <button type="button" className="btn btn-primary" disabled={busy} onClick={() => onNext(changed)}>
          {changed ? "Re-read with these settings" : "Next: map columns"}
        </button>
      </div>
    </div>
  );
}

function PreviewTable({ inspection, highlight = {} }: { inspection: ImportInspection; highlight?: Record<string, string> }) {
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

const MODES: { value: QuantityMode; label: string; hint: string }[] = [
  { value: "column_value", label: "A column's value", hint: "One row per account and SKU holds the count" },
  { value: "sum_per_sku", label: "Sum per SKU", hint: "Several rows per account and SKU add up (invoice lines)" },
  { value: "row_count", label: "Count of rows", hint: "Each row is one unit: a device, a user, an agent" },
  { value: "distinct_count", label: "Count of distinct values", hint: "Distinct users, hostnames…" },
];

function ColumnSelect({
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

function mappingProblems(m: ColumnMapping): string[] {
  const problems: string[] = [];
  if (!m.account_column) problems.push("Choose the account column.");
  if (!m.sku_column && !m.sku_constant) problems.push("Choose the SKU column, or name the single product this file counts.");
  if ((m.quantity_mode === "column_value" || m.quantity_mode === "sum_per_sku") && !m.quantity_column)
    problems.push("Choose the quantity column.");
  if (m.quantity_mode === "distinct_count" && !m.distinct_column) problems.push("Choose the column whose distinct values are counted.");
  return problems;
}

function cleanMapping(m: ColumnMapping): ColumnMapping {
  const out: ColumnMapping = { ...m };
  if (out.quantity_mode === "row_count" || out.quantity_mode === "distinct_count") out.quantity_column = null;
  if (out.quantity_mode !== "distinct_count") out.distinct_column = null;
  if (out.sku_column) out.sku_constant = null;
  out.filters = m.filters.filter((f) => f.column);
  return out;
}

function parseNumber(text: string, detection: Detection): number | null {
  let s = text.trim();
  if (!s) return null;
  if (detection.thousands_separator) s = s.split(detection.thousands_separator).join("");
  if (detection.decimal_separator !== ".") s = s.replace(detection.decimal_separator, ".");
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
}

function passes(filter: RowFilter, cell: string): boolean {
  const value = cell.trim().toLowerCase();
  const wanted = filter.values.map((v) => v.trim().toLowerCase());
  switch (filter.operator) {
    case "equals":
      return value === wanted[0];
    case "not_equals":
      return value !== wanted[0];
    case "in":
      return wanted.includes(value);
    case "not_in":
      return !wanted.includes(value);
    case "contains":
      return value.includes(wanted[0] ?? "");
    case "not_empty":
      return value !== "";
  }
}

/** What the mapping makes of the preview rows: the live preview of the column step. */
export function previewUsage(inspection: ImportInspection, m: ColumnMapping) {
  const names = inspection.preview.columns.map((c) => c.name);
  const at = (row: string[], column: string | null | undefined) => (column ? (row[names.indexOf(column)] ?? "") : "");
  const groups = new Map<string, { account: string; sku: string; quantity: number; distinct: Set<string>; rows: number }>();
  const issues: string[] = [];
  let withoutAccount = 0;
  inspection.preview.rows.forEach((row, index) => {
    if (!m.filters.every((f) => !f.column || passes(f, at(row, f.column)))) return;
    const account = at(row, m.account_id_column) || at(row, m.account_column);
    const sku = m.sku_column ? at(row, m.sku_column) : (m.sku_constant ?? "");
    if (!account.trim()) {
      // A totals line or a blank one: the import ignores it too, and counts it.
      withoutAccount += 1;
      return;
    }
    const key = `${account}\u0000${sku}`;
    const group = groups.get(key) ?? { account: at(row, m.account_column) || account, sku, quantity: 0, distinct: new Set<string>(), rows: 0 };
    group.rows += 1;
    if (m.quantity_mode === "column_value" || m.quantity_mode === "sum_per_sku") {
      const n = parseNumber(at(row, m.quantity_column), inspection.detection);
      if (n === null || n < 0) issues.push(`Preview row ${index + 1}: "${at(row, m.quantity_column)}" is not a quantity.`);
      else group.quantity += n;
    } else if (m.quantity_mode === "distinct_count") {
      group.distinct.add(at(row, m.distinct_column));
    }
    groups.set(key, group);
  });
  const usage = [...groups.values()].map((g) => ({
    account: g.account,
    sku: g.sku,
    quantity: m.quantity_mode === "row_count" ? g.rows : m.quantity_mode === "distinct_count" ? g.distinct.size : g.quantity,
    rows: g.rows,
  }));
  if (m.quantity_mode === "column_value") {
    for (const g of usage) if (g.rows > 1) issues.push(`${g.account} / ${g.sku} appears on ${g.rows} rows: use "Sum per SKU".`);
  }
  return { usage, issues, withoutAccount };
}

function MappingStep({
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
  const highlight: Record<string, string> = {};
  const mark = (column: string | null | undefined, role: string) => {
    if (column) highlight[column] = role;
  };
  mark(mapping.account_column, "account");
  mark(mapping.account_id_column, "account id");
  mark(mapping.sku_column, "SKU");
  mark(mapping.quantity_column, "quantity");
  mark(mapping.distinct_column, "counted");
  mark(mapping.price_column, "price");
  mark(mapping.cost_column, "cost");
  mark(mapping.date_column, "date");
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

function ReviewStep({
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

function ProgressStep({
  id,
  vendor,
  showChanges,
  onFinished,
  onAnother,
}: {
  id: string;
  vendor: string;
  showChanges: boolean;
  onFinished: () => void;
  onAnother: () => void;
}) {
  const client = useQueryClient();
  const status = useQuery({
    queryKey: ["import", id],
    queryFn: ({ signal }) => api.get<ImportView>(`/api/v1/imports/${encodeURIComponent(id)}?usage_limit=200`, signal),
    refetchInterval: (query) => (query.state.data && FINAL_STATES.has(query.state.data.status) ? false : 1000),
  });
  const done = status.data ? FINAL_STATES.has(status.data.status) : false;
  useEffect(() => {
    if (done) {
      void client.invalidateQueries({ queryKey: ["cards"] });
      void client.invalidateQueries({ queryKey: ["unmapped"] });
      onFinished();
    }
  }, [done, client, onFinished]);

  const changed = useQuery({
    queryKey: ["cards", { vendor, after: id }],
    enabled: done && showChanges,
    queryFn: ({ signal }) => fetchAllCards(vendor ? { vendor, state: "pending" } : { state: "pending" }, signal),
  });

  const s = status.data;
  const counts = s?.counts;
  const percent = done ? 100 : Math.max(5, s?.progress_percent ?? 0);
  const cards = (changed.data?.items ?? []).filter((c) => c.kind !== "no_change");
  // The server's totals of the same cards: one monthly figure per currency, never a sum of two.
  const toReview = (changed.data?.totals?.by_currency ?? [])
    .filter((row) => num(row.mrr_change) !== 0)
    .map((row) => ({ currency: row.currency, amount: row.mrr_change, cards: row.cards }));

  return (
    <div>
      <h2 className="step-title">{done ? (s?.status === "failed" ? "The import failed" : "Import finished") : "Importing…"}</h2>
      <ErrorBanner error={status.error} />
      <div className="progress" role="progressbar" aria-label="Import progress" aria-valuenow={percent} aria-valuemin={0} aria-valuemax={100}>
        <div className={`progress-bar${s?.status === "failed" ? " progress-failed" : ""}`} style={{ width: `${percent}%` }} />
      </div>
      {s && (
        <dl className="stat-row" data-testid="import-counts">
          <div>
            <dt>Rows read</dt>
            <dd>{counts?.rows_read ?? 0}</dd>
          </div>
          <div>
            <dt>Imported</dt>
            <dd>{counts?.rows_imported ?? 0}</dd>
          </div>
          <div>
            <dt>Invalid, skipped</dt>
            <dd>{counts?.rows_skipped_invalid ?? 0}</dd>
          </div>
          <div>
            <dt>Filtered out</dt>
            <dd>{counts?.rows_filtered_out ?? 0}</dd>
          </div>
          <div>
            <dt>Totals rows ignored</dt>
            <dd>{counts?.totals_rows_ignored ?? 0}</dd>
          </div>
        </dl>
      )}
      {done && s && s.usage.length > 0 && (
        <details className="more">
          <summary>
            Usage from this file ({s.usage_total} vendor account and SKU pair{s.usage_total === 1 ? "" : "s"})
          </summary>
          <div className="preview-scroller">
            <table className="mini-table">
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
                {s.usage.map((u) => (
                  <tr key={`${u.vendor_account_id}:${u.sku}`}>
                    <td>{u.vendor_account_name || u.vendor_account_id}</td>
                    <td>{u.sku_name || u.sku}</td>
                    <td className="num">{qty(u.quantity)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </details>
      )}
      {s?.status === "unchanged" && <p className="banner banner-info">This file was imported before: nothing changed.</p>}
      {s?.error && (
        <p className="banner banner-error" role="alert">
          {s.error}
        </p>
      )}
      {done && showChanges && (
        <section aria-labelledby="changed-cards">
          <h3 id="changed-cards">Cards to review{vendor ? ` for ${vendor}` : ""}</h3>
          {changed.isPending ? (
            <Spinner label="Loading cards" />
          ) : cards.length === 0 ? (
            <ImportResultEmpty vendor={vendor} usage={s?.usage ?? []} />
          ) : (
            <table className="mini-table" data-testid="changed-cards">
              <thead>
                <tr>
                  <th scope="col">Account</th>
                  <th scope="col">Service line</th>
                  <th scope="col" className="num">
                    PSA → vendor
                  </th>
                  <th scope="col" className="num">
                    MRR
                  </th>
                </tr>
              </thead>
              <tbody>
                {cards.slice(0, 25).map((c) => (
                  <tr key={c.card_id}>
                    <td>
                      {(c.kind === "new_revenue" || c.is_new) && <span className="tag tag-new">New</span>} {c.account_name}
                    </td>
                    <td>{c.service_line}</td>
                    <td className="num">
                      {qty(c.psa_quantity)} → {qty(c.vendor_quantity)}
                    </td>
                    <td
                      className={`num delta-${tone(c.mrr_change)}`}
                      title={(c.period_months ?? 1) > 1 ? `${money(c.period_change, c.currency ?? "USD", true)} ${perPeriod(c.billing_cycle)}` : undefined}
                    >
                      {money(c.mrr_change, c.currency ?? "USD", true)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <p className="muted small">
            {cards.length > 25 ? `and ${cards.length - 25} more · ` : ""}
            {toReview.length > 0 && <span data-testid="import-mrr">{moneyList(toReview)} monthly revenue to review</span>}
          </p>
          <div className="step-actions">
            <button type="button" className="btn" onClick={onAnother}>
              Import another file
            </button>
            <button type="button" className="btn" onClick={() => navigate("/mapping")}>
              Map accounts
            </button>
            <button type="button" className="btn btn-primary" onClick={() => navigate("/")}>
              Review the cards
            </button>
          </div>
        </section>
      )}
    </div>
  );
}
