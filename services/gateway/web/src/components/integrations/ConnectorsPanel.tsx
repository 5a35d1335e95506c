import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, errorMessage } from "../../api";
import { ago, when } from "../../format";
import type { Connector, ConnectorTestResult } from "../../types";
import { EmptyState, ErrorBanner, Modal, Panel, Spinner, useToasts } from "../ui";
import ConnectorDialog from "./ConnectorDialog";
import { everyLabel, kindOf } from "./kinds";

/** The tenant's vendor API connectors: status for everyone, changes for admins. */
export default function ConnectorsPanel({ isAdmin }: { isAdmin: boolean }) {
  const client = useQueryClient();
  const toasts = useToasts();
  // Runs asked for here, by connector: the server's due time of the run, and when asked.
  const [asked, setAsked] = useState<Record<string, { due: number; at: number }>>({});
  const connectors = useQuery({
    queryKey: ["connectors"],
    queryFn: ({ signal }) => api.get<{ items: Connector[] }>("/api/v1/connectors", signal),
    // Polls happen in the background: look again every few seconds while one is under way.
    refetchInterval: (query) => (query.state.data?.items.some((c) => awaitingRun(c, asked[c.connector_id])) ? 2000 : false),
  });
  const [editing, setEditing] = useState<Connector | "new" | null>(null);
  const [deleting, setDeleting] = useState<Connector | null>(null);
  const [tests, setTests] = useState<Record<string, ConnectorTestResult>>({});
  const refresh = () => void client.invalidateQueries({ queryKey: ["connectors"] });

  const test = useMutation({
    mutationFn: (id: string) => api.post<ConnectorTestResult>(`/api/v1/connectors/${encodeURIComponent(id)}/test`),
    onSuccess: (result, id) => setTests((t) => ({ ...t, [id]: result })),
    onError: (error, id) => setTests((t) => ({ ...t, [id]: { ok: false, detail: errorMessage(error), records: 0 } })),
  });
  const run = useMutation({
    mutationFn: (id: string) => api.post<Connector>(`/api/v1/connectors/${encodeURIComponent(id)}/run`),
    onSuccess: (connector) => {
      const due = connector.next_run_at ? Date.parse(connector.next_run_at) : Date.now();
      setAsked((a) => ({ ...a, [connector.connector_id]: { due, at: Date.now() } }));
      toasts.push({ message: `${connector.name}: polling now`, tone: "success" });
      refresh();
    },
    onError: (error) => toasts.push({ message: errorMessage(error), tone: "error" }),
  });
  const remove = useMutation({
    mutationFn: (id: string) => api.del(`/api/v1/connectors/${encodeURIComponent(id)}`),
    onSuccess: () => {
      toasts.push({ message: `Deleted ${deleting?.name ?? "the connector"}`, tone: "success" });
      setDeleting(null);
      refresh();
    },
  });

  const add = isAdmin ? (
    <button type="button" className="btn btn-primary btn-small" onClick={() => setEditing("new")}>
      Add connector
    </button>
  ) : undefined;
  const items = connectors.data?.items ?? [];

  return (
    <Panel title="Vendor connectors" actions={items.length > 0 ? add : undefined}>
      <p className="muted small">
        Connectors read usage from Pax8, NinjaOne and Huntress on a schedule; each poll replaces that vendor&apos;s usage for the accounts it reports.
      </p>
      <ErrorBanner error={connectors.error} onRetry={refresh} />
      {connectors.isPending && <Spinner label="Loading connectors" />}
      {connectors.data && items.length === 0 && (
        <EmptyState icon="⇄" title="No connector yet" actions={add}>
          Add one with the API credentials your vendor portal issues (Pax8: Integrations → API; NinjaOne: Administration → Apps → API; Huntress: Account → API
          credentials). Until then, usage comes from CSV imports and webhooks.
        </EmptyState>
      )}
      {items.length > 0 && (
        <div className="table-wrap">
          <table className="grid grid-compact" aria-label="Connectors">
            <thead>
              <tr>
                <th scope="col">Connector</th>
                <th scope="col">Schedule</th>
                <th scope="col">Last run</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((c) => (
                <tr key={c.connector_id} data-connector={c.connector_id}>
                  <td>
                    <strong>{c.name}</strong>
                    <div className="muted small">
                      {kindOf(c.kind).label} · <span className="mono">{c.base_url}</span>
                    </div>
                  </td>
                  <td className="small">
                    {c.enabled ? everyLabel(c.every_seconds) : <span className="pill">Paused</span>}
                    {c.enabled && c.next_run_at && <div className="muted">next {when(c.next_run_at)}</div>}
                  </td>
                  <td className="small">
                    <LastRun connector={c} />
                    {tests[c.connector_id] && (
                      <div className={tests[c.connector_id]?.ok ? "success-text" : "error-text"} role="status">
                        Test: {tests[c.connector_id]?.detail}
                      </div>
                    )}
                  </td>
                  <td>
                    {isAdmin && (
                      <div className="row-actions connector-actions">
                        <button type="button" className="btn btn-small" disabled={test.isPending} onClick={() => test.mutate(c.connector_id)} aria-label={`Test ${c.name}`}>
                          {test.isPending && test.variables === c.connector_id ? "Testing…" : "Test"}
                        </button>
                        <button type="button" className="btn btn-small" disabled={!c.enabled || run.isPending} onClick={() => run.mutate(c.connector_id)} aria-label={`Run ${c.name} now`}>
                          Run now
                        </button>
                        <button type="button" className="btn btn-ghost btn-small" onClick={() => setEditing(c)} aria-label={`Edit ${c.name}`}>
                          Edit
                        </button>
                        <button type="button" className="btn btn-ghost btn-small" onClick={() => setDeleting(c)} aria-label={`Delete ${c.name}`}>
                          Delete
                        </button>
                      </div>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {editing && <ConnectorDialog connector={editing === "new" ? undefined : editing} onClose={() => setEditing(null)} />}
      {deleting && (
        <Modal
          title={`Delete ${deleting.name}?`}
          onClose={() => setDeleting(null)}
          footer={
            <>
              <button type="button" className="btn" onClick={() => setDeleting(null)}>
                Cancel
              </button>
              <button type="button" className="btn btn-primary" disabled={remove.isPending} onClick={() => remove.mutate(deleting.connector_id)}>
                Delete connector
              </button>
            </>
          }
        >
          <p>It stops polling and its stored credentials are erased. The usage it already reported stays until a newer import or poll replaces it.</p>
          {remove.error && <ErrorBanner error={remove.error} />}
        </Modal>
      )}
    </Panel>
  );
}

const WATCH_MS = 2 * 60 * 1000;

/** Whether a poll of this connector is due or under way, so its outcome is worth awaiting. */
function awaitingRun(c: Connector, asked?: { due: number; at: number }): boolean {
  if (!c.enabled) return false;
  const now = Date.now();
  if (asked && now - asked.at < WATCH_MS && (!c.last_run_at || Date.parse(c.last_run_at) < asked.due)) return true;
  // A new connector is polled at the scheduler's next tick.
  if (!c.last_run_at && c.created_at && now - Date.parse(c.created_at) < WATCH_MS) return true;
  return c.next_run_at !== null && Date.parse(c.next_run_at) <= now;
}

function LastRun({ connector }: { connector: Connector }) {
  if (!connector.last_run_at) return <span className="muted">Not run yet</span>;
  return (
    <>
      <span className={`pill pill-${connector.last_status === "ok" ? "applied" : "failed"}`}>{connector.last_status === "ok" ? "OK" : "Failed"}</span>{" "}
      <span title={when(connector.last_run_at)}>{ago(connector.last_run_at)}</span>
      {connector.last_status === "ok" && <span className="muted"> · {connector.last_records} records</span>}
      {connector.last_error && <div className="error-text">{connector.last_error}</div>}
    </>
  );
}
