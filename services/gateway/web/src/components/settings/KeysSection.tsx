import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, errorMessage } from "../../api";
import { ago, titleCase, when } from "../../format";
import type { ApiKey, Role } from "../../types";
import { Panel } from "../ui";
import { ROLES } from "./roles";
import Unavailable from "./Unavailable";

export default function KeysSection() {
  const client = useQueryClient();
  const keys = useQuery({ queryKey: ["api-keys"], queryFn: ({ signal }) => api.get<ApiKey[]>("/api/v1/api-keys", signal) });
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [created, setCreated] = useState<ApiKey | null>(null);
  const create = useMutation({
    mutationFn: () => api.post<ApiKey>("/api/v1/api-keys", { name, role }),
    onSuccess: (key) => {
      setCreated(key);
      setName("");
      void client.invalidateQueries({ queryKey: ["api-keys"] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => api.del(`/api/v1/api-keys/${encodeURIComponent(id)}`),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["api-keys"] }),
  });
  return (
    <Panel title="API keys">
      <p className="muted small">
        Scripts call the same API as this app with <code>Authorization: Bearer &lt;key&gt;</code>. A key is shown once, when it is created.
      </p>
      <Unavailable error={keys.error} what="API keys" />
      {created?.key && (
        <div className="banner banner-info" role="status">
          Key “{created.name}”: <code className="secret">{created.key}</code> — copy it now.
        </div>
      )}
      {keys.data && (
        <table className="grid">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Created</th>
              <th scope="col">Status</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.data.map((k) => (
              <tr key={k.key_id}>
                <td>{k.name}</td>
                <td>{titleCase(k.role)}</td>
                <td>{when(k.created_at)}</td>
                <td>{k.revoked_at ? <span className="pill pill-failed">Revoked {ago(k.revoked_at)}</span> : <span className="pill pill-applied">Active</span>}</td>
                <td>
                  {!k.revoked_at && (
                    <button type="button" className="btn btn-ghost btn-small" aria-label={`Revoke ${k.name}`} onClick={() => revoke.mutate(k.key_id)}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {keys.data && (
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            create.mutate();
          }}
        >
          <label htmlFor="key-name">Name</label>
          <input id="key-name" required value={name} onChange={(e) => setName(e.target.value)} placeholder="Reporting script" />
          <label htmlFor="key-role">Role</label>
          <select id="key-role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {titleCase(r)}
              </option>
            ))}
          </select>
          <button type="submit" className="btn btn-primary btn-small" disabled={!name || create.isPending}>
            Create key
          </button>
          {create.error && <span className="error-text">{errorMessage(create.error)}</span>}
        </form>
      )}
    </Panel>
  );
}
