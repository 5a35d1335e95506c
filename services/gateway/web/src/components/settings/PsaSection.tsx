import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, errorMessage } from "../../api";
import { ago, titleCase } from "../../format";
import type { SyncStatus } from "../../types";
import { ErrorBanner, Panel, Spinner, useToasts } from "../ui";
import Unavailable from "./Unavailable";

const PSA_NAMES: Record<string, string> = { connectwise: "ConnectWise PSA", autotask: "Datto Autotask", halo: "HaloPSA" };

const PSA_FIELDS: Record<string, { key: string; label: string; secret?: boolean; optional?: boolean }[]> = {
  connectwise: [
    { key: "site", label: "Site (e.g. api-na.myconnectwise.net)" },
    { key: "company_id", label: "Company id" },
    { key: "public_key", label: "Public key" },
    { key: "private_key", label: "Private key", secret: true },
    { key: "client_id", label: "Client id" },
    { key: "codebase", label: "Codebase", optional: true },
  ],
  autotask: [
    { key: "username", label: "API user name" },
    { key: "secret", label: "Secret", secret: true },
    { key: "integration_code", label: "Integration code" },
    { key: "zone_url", label: "Zone URL", optional: true },
  ],
  halo: [
    { key: "base_url", label: "Base URL" },
    { key: "client_id", label: "Client id" },
    { key: "client_secret", label: "Client secret", secret: true },
    { key: "tenant", label: "Tenant", optional: true },
  ],
};

export default function PsaSection({ isAdmin }: { isAdmin: boolean }) {
  const client = useQueryClient();
  const toasts = useToasts();
  const status = useQuery({ queryKey: ["psa"], queryFn: ({ signal }) => api.get<SyncStatus>("/api/v1/settings/psa", signal) });
  const [psa, setPsa] = useState("connectwise");
  const [name, setName] = useState("");
  const [credentials, setCredentials] = useState<Record<string, string>>({});
  const [tests, setTests] = useState<Record<string, { ok: boolean; detail: string }>>({});

  const save = useMutation({
    mutationFn: () => api.post("/api/v1/settings/psa", { psa, name: name || titleCase(psa), credentials }),
    onSuccess: () => {
      toasts.push({ message: "PSA connection saved. The first sync starts now.", tone: "success" });
      setCredentials({});
      void client.invalidateQueries({ queryKey: ["psa"] });
    },
  });
  const test = useMutation({
    mutationFn: (id: string) => api.post<{ ok: boolean; detail: string }>(`/api/v1/settings/psa/${encodeURIComponent(id)}/test`),
    onSuccess: (result, id) => setTests((t) => ({ ...t, [id]: result })),
    onError: (error, id) => setTests((t) => ({ ...t, [id]: { ok: false, detail: errorMessage(error) } })),
  });
  const sync = useMutation({
    mutationFn: (full: boolean) => api.post("/api/v1/settings/psa/sync", { full }),
    onSuccess: () => toasts.push({ message: "Sync requested", tone: "success" }),
    onError: (error) => toasts.push({ message: errorMessage(error), tone: "error" }),
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };

  return (
    <>
      <Panel
        title="PSA connection"
        actions={
          status.data?.connections.length ? (
            <button type="button" className="btn btn-small" disabled={sync.isPending} onClick={() => sync.mutate(false)}>
              Sync now
            </button>
          ) : undefined
        }
      >
        <Unavailable error={status.error} what="The PSA connection" />
        {status.isPending ? (
          <Spinner />
        ) : status.data && status.data.connections.length === 0 ? (
          <p className="muted">No PSA is connected yet. Connect one below: cards need your contracts.</p>
        ) : (
          status.data && (
            <>
              <p className="muted small">{status.data.active_accounts} active accounts (accounts with an active contract).</p>
              <ul className="connection-list">
                {status.data.connections.map((c) => (
                  <li key={c.connection_id} className="connection">
                    <div>
                      <strong>{c.name}</strong> <span className="pill">{PSA_NAMES[c.psa] ?? titleCase(c.psa)}</span>{" "}
                      <span className={`pill pill-${c.status === "ok" ? "applied" : c.status === "syncing" ? "pending" : "failed"}`}>
                        {titleCase(c.status)}
                      </span>
                      <div className="muted small">
                        Last sync {ago(c.last_success_at)} · {c.accounts} accounts · {c.contracts} contracts
                        {c.last_error ? ` · ${c.last_error}` : ""}
                      </div>
                      {tests[c.connection_id] && (
                        <div className={tests[c.connection_id]?.ok ? "success-text small" : "error-text small"} role="status">
                          {tests[c.connection_id]?.ok ? "Connection works" : "Connection failed"}: {tests[c.connection_id]?.detail}
                        </div>
                      )}
                    </div>
                    {isAdmin && (
                      <button type="button" className="btn btn-small" disabled={test.isPending} onClick={() => test.mutate(c.connection_id)}>
                        {test.isPending && test.variables === c.connection_id ? "Testing…" : "Test connection"}
                      </button>
                    )}
                  </li>
                ))}
              </ul>
            </>
          )
        )}
      </Panel>
      {isAdmin && (
        <Panel title={status.data?.connections.length ? "Replace or add a PSA connection" : "Connect a PSA"}>
          <form onSubmit={submit} className="form-grid">
            <div className="field">
              <label htmlFor="psa-kind">PSA</label>
              <select id="psa-kind" value={psa} onChange={(e) => setPsa(e.target.value)}>
                <option value="connectwise">ConnectWise PSA</option>
                <option value="autotask">Datto Autotask</option>
                <option value="halo">HaloPSA</option>
              </select>
            </div>
            <div className="field">
              <label htmlFor="psa-name">Name</label>
              <input id="psa-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="Production" />
            </div>
            {(PSA_FIELDS[psa] ?? []).map((f) => (
              <div className="field" key={f.key}>
                <label htmlFor={`psa-${f.key}`}>
                  {f.label}
                  {f.optional && <span className="muted small"> (optional)</span>}
                </label>
                <input
                  id={`psa-${f.key}`}
                  type={f.secret ? "password" : "text"}
                  autoComplete="off"
                  required={!f.optional}
                  value={credentials[f.key] ?? ""}
                  onChange={(e) => setCredentials({ ...credentials, [f.key]: e.target.value })}
                />
              </div>
            ))}
            {save.error && <ErrorBanner error={save.error} />}
            <div className="form-actions">
              <button type="submit" className="btn btn-primary" disabled={save.isPending}>
                Save connection
              </button>
            </div>
          </form>
        </Panel>
      )}
    </>
  );
}
