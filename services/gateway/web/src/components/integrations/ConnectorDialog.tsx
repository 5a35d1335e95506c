import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api } from "../../api";
import type { Connector, ConnectorKind } from "../../types";
import { ErrorBanner, Modal } from "../ui";
import { KINDS, SCHEDULES, everyLabel, kindOf } from "./kinds";

/**
 * Add a connector, or edit one. Stored credentials are never sent back, so an edit shows
 * empty credential fields: left empty, the stored ones stay; filled, they replace them all.
 */
export default function ConnectorDialog({ connector, onClose }: { connector?: Connector; onClose: () => void }) {
  const client = useQueryClient();
  const editing = connector !== undefined;
  const [kind, setKind] = useState<ConnectorKind>(connector?.kind ?? "pax8");
  const [name, setName] = useState(connector?.name ?? "");
  const [baseUrl, setBaseUrl] = useState(connector?.base_url ?? "");
  const [every, setEvery] = useState(connector?.every_seconds ?? 6 * 60 * 60);
  const [enabled, setEnabled] = useState(connector?.enabled ?? true);
  const [credentials, setCredentials] = useState<Record<string, string>>({});
  const fields = kindOf(kind).fields;
  const replacing = Object.values(credentials).some((v) => v.trim());

  const save = useMutation({
    mutationFn: () => {
      const given = Object.fromEntries(Object.entries(credentials).filter(([, v]) => v.trim()));
      const body: Record<string, unknown> = { name: name.trim(), base_url: baseUrl.trim(), every_seconds: every, enabled };
      if (!editing || replacing) body.credentials = given;
      if (editing) return api.patch<Connector>(`/api/v1/connectors/${encodeURIComponent(connector.connector_id)}`, body);
      return api.post<Connector>("/api/v1/connectors", { ...body, kind });
    },
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["connectors"] });
      onClose();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };
  const schedules = SCHEDULES.some((s) => s.seconds === every) ? SCHEDULES : [...SCHEDULES, { seconds: every, label: everyLabel(every) }];

  return (
    <Modal title={editing ? `Edit ${connector.name}` : "Add a connector"} onClose={onClose}>
      <form id="connector-form" className="form-grid" onSubmit={submit}>
        <div className="field">
          <label htmlFor="connector-kind">Vendor</label>
          <select id="connector-kind" value={kind} disabled={editing} onChange={(e) => setKind(e.target.value as ConnectorKind)}>
            {KINDS.map((k) => (
              <option key={k.id} value={k.id}>
                {k.label}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="connector-name">Name</label>
          <input id="connector-name" required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} placeholder={`${kindOf(kind).label} production`} />
        </div>
        <div className="field field-wide">
          <label htmlFor="connector-url">API base URL</label>
          <input id="connector-url" required type="url" value={baseUrl} onChange={(e) => setBaseUrl(e.target.value)} placeholder={kindOf(kind).baseUrl} />
        </div>
        {fields.map((f) => (
          <div className="field" key={f.key}>
            <label htmlFor={`connector-${f.key}`}>
              {f.label}
              {f.optional && <span className="muted small"> (optional)</span>}
            </label>
            <input
              id={`connector-${f.key}`}
              type={f.secret ? "password" : "text"}
              autoComplete="off"
              required={!f.optional && (!editing || replacing)}
              value={credentials[f.key] ?? ""}
              placeholder={editing && connector.credential_fields.includes(f.key) ? "Stored · leave empty to keep" : undefined}
              onChange={(e) => setCredentials({ ...credentials, [f.key]: e.target.value })}
            />
          </div>
        ))}
        <div className="field">
          <label htmlFor="connector-every">Schedule</label>
          <select id="connector-every" value={every} onChange={(e) => setEvery(Number(e.target.value))}>
            {schedules.map((s) => (
              <option key={s.seconds} value={s.seconds}>
                {s.label}
              </option>
            ))}
          </select>
        </div>
        <div className="field field-check">
          <label>
            <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> Poll on schedule
          </label>
        </div>
        <p className="muted small field-wide">
          Credentials are sealed when saved and never shown again. {editing ? "Fill them in only to replace them." : "A new connector polls within a minute."}
        </p>
        {save.error && <ErrorBanner error={save.error} />}
        <div className="form-actions field-wide">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={save.isPending}>
            {save.isPending ? "Saving…" : editing ? "Save changes" : "Add connector"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
