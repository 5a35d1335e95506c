import type { ImportInspection } from "../../types";
import type { Settings } from "./mapping";
import PreviewTable from "./PreviewTable";

const DELIMITERS: [string, string][] = [
  [",", "Comma ,"],
  [";", "Semicolon ;"],
  ["\t", "Tab"],
  ["|", "Pipe |"],
];

export default function SettingsStep({
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
