import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "../../api";
import { when } from "../../format";
import type { PushKeyStatus } from "../../types";
import { ErrorBanner, Panel, Spinner } from "../ui";
import SecretDialog from "./SecretDialog";

/** The push API key: whether one exists, and a rotation that shows the new key once. */
export default function PushKeyPanel() {
  const client = useQueryClient();
  const status = useQuery({ queryKey: ["push-key"], queryFn: ({ signal }) => api.get<PushKeyStatus>("/api/v1/push-key", signal) });
  const [issued, setIssued] = useState<string | null>(null);
  const rotate = useMutation({
    mutationFn: () => api.post<PushKeyStatus>("/api/v1/push-key/rotate"),
    onSuccess: (result) => {
      setIssued(result.key ?? null);
      void client.invalidateQueries({ queryKey: ["push-key"] });
      void client.invalidateQueries({ queryKey: ["api-keys"] });
    },
  });
  const exists = status.data?.exists ?? false;
  return (
    <Panel
      title="Push API key"
      actions={
        status.data && (
          <button type="button" className="btn btn-small" disabled={rotate.isPending} onClick={() => rotate.mutate()}>
            {exists ? "Rotate key" : "Create key"}
          </button>
        )
      }
    >
      <p className="muted small">
        Scripts that push usage files to <code>POST /api/v1/imports</code> authenticate with <code>Authorization: Bearer &lt;key&gt;</code> (billing role). Rotating
        issues a new key, shown once, and the previous one stops working at once.
      </p>
      <ErrorBanner error={status.error ?? rotate.error} />
      {status.isPending && <Spinner />}
      {status.data &&
        (exists ? (
          <p>
            <span className="pill pill-applied">Active</span> created {when(status.data.created_at)}
          </p>
        ) : (
          <p className="muted">No push API key yet. Create one when a script or vendor needs to push usage.</p>
        ))}
      {issued && <SecretDialog title="Push API key" secret={issued} onClose={() => setIssued(null)} />}
    </Panel>
  );
}
