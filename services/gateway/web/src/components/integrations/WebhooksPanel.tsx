import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, errorMessage } from "../../api";
import { ago, when } from "../../format";
import type { WebhookEndpoint, WebhookSecretIssued } from "../../types";
import { EmptyState, ErrorBanner, Modal, Panel, Spinner, useToasts } from "../ui";
import SecretDialog from "./SecretDialog";

const GRACE_SECONDS = 24 * 60 * 60;

/** Where vendors post signed usage, and each endpoint's signing secrets (admins only). */
export default function WebhooksPanel() {
  const client = useQueryClient();
  const toasts = useToasts();
  const endpoints = useQuery({
    queryKey: ["webhooks"],
    queryFn: ({ signal }) => api.get<{ items: WebhookEndpoint[] }>("/api/v1/webhooks", signal),
  });
  const [vendor, setVendor] = useState("");
  const [name, setName] = useState("");
  const [issued, setIssued] = useState<{ result: WebhookSecretIssued; rotated: boolean } | null>(null);
  const [rotating, setRotating] = useState<WebhookEndpoint | null>(null);
  const [keepOld, setKeepOld] = useState(true);
  const [deleting, setDeleting] = useState<WebhookEndpoint | null>(null);
  const refresh = () => void client.invalidateQueries({ queryKey: ["webhooks"] });

  const create = useMutation({
    mutationFn: () => api.post<WebhookSecretIssued>("/api/v1/webhooks", { vendor: vendor.trim(), name: name.trim() }),
    onSuccess: (result) => {
      setVendor("");
      setName("");
      setIssued({ result, rotated: false });
      refresh();
    },
  });
  const rotate = useMutation({
    mutationFn: (id: string) =>
      api.post<WebhookSecretIssued>(`/api/v1/webhooks/${encodeURIComponent(id)}/rotate`, { grace_seconds: keepOld ? GRACE_SECONDS : 0 }),
    onSuccess: (result) => {
      setRotating(null);
      setIssued({ result, rotated: true });
      refresh();
    },
    onError: (error) => toasts.push({ message: errorMessage(error), tone: "error" }),
  });
  const remove = useMutation({
    mutationFn: (id: string) => api.del(`/api/v1/webhooks/${encodeURIComponent(id)}`),
    onSuccess: () => {
      toasts.push({ message: `Deleted the ${deleting?.vendor ?? ""} endpoint`, tone: "success" });
      setDeleting(null);
      refresh();
    },
  });
  const items = endpoints.data?.items ?? [];

  return (
    <Panel title="Webhook endpoints">
      <p className="muted small">
        Vendors post usage, or push unit counts, to their endpoint path on the ingestion service, signed with Standard Webhooks signatures (HMAC-SHA256) using the
        endpoint&apos;s secret.
      </p>
      <ErrorBanner error={endpoints.error} onRetry={refresh} />
      {endpoints.isPending && <Spinner label="Loading webhook endpoints" />}
      {endpoints.data && items.length === 0 && (
        <EmptyState icon="↘" title="No webhook endpoint yet">
          Create one per vendor that sends usage on its own. You get its path and a signing secret, shown once, to paste into the vendor&apos;s webhook settings.
        </EmptyState>
      )}
      {items.length > 0 && (
        <div className="table-wrap">
          <table className="grid grid-compact" aria-label="Webhook endpoints">
            <thead>
              <tr>
                <th scope="col">Vendor</th>
                <th scope="col">Endpoint path</th>
                <th scope="col">Secrets</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((e) => {
                const expiring = e.secrets.find((s) => s.expires_at);
                return (
                  <tr key={e.endpoint_id}>
                    <td>
                      <strong>{e.vendor}</strong>
                      {e.name && <div className="muted small">{e.name}</div>}
                    </td>
                    <td className="mono small" title={e.path}>
                      {e.path}
                    </td>
                    <td className="small">
                      {e.secrets.length} valid · created {when(e.created_at)}
                      {expiring && <div className="muted">previous secret expires {ago(expiring.expires_at)}</div>}
                    </td>
                    <td>
                      <div className="row-actions">
                        <button type="button" className="btn btn-small" aria-label={`Rotate the secret of ${e.vendor}`} onClick={() => setRotating(e)}>
                          Rotate secret
                        </button>
                        <button type="button" className="btn btn-ghost btn-small" aria-label={`Delete the ${e.vendor} endpoint`} onClick={() => setDeleting(e)}>
                          Delete
                        </button>
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {endpoints.data && (
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            create.mutate();
          }}
        >
          <label htmlFor="wh-vendor">Vendor</label>
          <input id="wh-vendor" value={vendor} required pattern="[A-Za-z0-9_.\-]+" onChange={(e) => setVendor(e.target.value)} placeholder="e.g. huntress" />
          <label htmlFor="wh-name">Label</label>
          <input id="wh-name" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} placeholder="optional" />
          <button type="submit" className="btn btn-primary btn-small" disabled={!vendor.trim() || create.isPending}>
            Add webhook endpoint
          </button>
          {create.error && <span className="error-text">{errorMessage(create.error)}</span>}
        </form>
      )}
      {rotating && (
        <Modal
          title={`Rotate the ${rotating.vendor} signing secret?`}
          onClose={() => setRotating(null)}
          footer={
            <>
              <button type="button" className="btn" onClick={() => setRotating(null)}>
                Cancel
              </button>
              <button type="button" className="btn btn-primary" disabled={rotate.isPending} onClick={() => rotate.mutate(rotating.endpoint_id)}>
                Rotate secret
              </button>
            </>
          }
        >
          <p>A new secret is issued and shown once.</p>
          <label className="field-check">
            <input type="checkbox" checked={keepOld} onChange={(e) => setKeepOld(e.target.checked)} /> Keep the current secret valid for 24 hours, so the vendor can
            switch without losing a delivery
          </label>
          {!keepOld && <p className="error-text small">Deliveries signed with the current secret are refused from now on.</p>}
        </Modal>
      )}
      {deleting && (
        <Modal
          title={`Delete the ${deleting.vendor} endpoint?`}
          onClose={() => setDeleting(null)}
          footer={
            <>
              <button type="button" className="btn" onClick={() => setDeleting(null)}>
                Cancel
              </button>
              <button type="button" className="btn btn-primary" disabled={remove.isPending} onClick={() => remove.mutate(deleting.endpoint_id)}>
                Delete endpoint
              </button>
            </>
          }
        >
          <p>Deliveries to {deleting.path} are refused from now on. Usage it already delivered stays.</p>
          {remove.error && <ErrorBanner error={remove.error} />}
        </Modal>
      )}
      {issued && (
        <SecretDialog
          title={issued.rotated ? `New signing secret for ${issued.result.endpoint.vendor}` : `Webhook endpoint for ${issued.result.endpoint.vendor}`}
          secret={issued.result.secret}
          onClose={() => setIssued(null)}
        >
          <p>
            Endpoint path: <code className="mono">{issued.result.endpoint.path}</code>
          </p>
        </SecretDialog>
      )}
    </Panel>
  );
}
