import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, errorMessage } from "../../api";
import { titleCase } from "../../format";
import type { Role, User } from "../../types";
import { ErrorBanner, Panel, useToasts } from "../ui";
import { ROLES } from "./roles";
import Unavailable from "./Unavailable";

export default function UsersSection() {
  const client = useQueryClient();
  const toasts = useToasts();
  const users = useQuery({ queryKey: ["users"], queryFn: ({ signal }) => api.get<User[]>("/api/v1/users", signal) });
  const [form, setForm] = useState({ email: "", name: "", password: "", role: "billing" as Role });
  const create = useMutation({
    mutationFn: () => api.post<User>("/api/v1/users", form),
    onSuccess: (user) => {
      toasts.push({ message: `Added ${user.email}`, tone: "success" });
      setForm({ email: "", name: "", password: "", role: "billing" });
      void client.invalidateQueries({ queryKey: ["users"] });
    },
  });
  const patch = useMutation({
    mutationFn: ({ id, body }: { id: string; body: Partial<User> }) => api.patch<User>(`/api/v1/users/${encodeURIComponent(id)}`, body),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["users"] }),
    onError: (error) => toasts.push({ message: errorMessage(error), tone: "error" }),
  });
  return (
    <Panel title="Users and roles">
      <p className="muted small">Viewers read; billing users also action cards, import and map; admins also change settings, users and API keys.</p>
      <Unavailable error={users.error} what="Users" />
      {users.data && (
        <table className="grid">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Active</th>
            </tr>
          </thead>
          <tbody>
            {users.data.map((u) => (
              <tr key={u.user_id}>
                <td>{u.name}</td>
                <td>{u.email}</td>
                <td>
                  <select aria-label={`Role of ${u.email}`} value={u.role} onChange={(e) => patch.mutate({ id: u.user_id, body: { role: e.target.value as Role } })}>
                    {ROLES.map((r) => (
                      <option key={r} value={r}>
                        {titleCase(r)}
                      </option>
                    ))}
                  </select>
                </td>
                <td>
                  <input type="checkbox" aria-label={`${u.email} is active`} checked={u.active} onChange={(e) => patch.mutate({ id: u.user_id, body: { active: e.target.checked } })} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {users.data && (
        <form
          className="form-grid"
          onSubmit={(e) => {
            e.preventDefault();
            create.mutate();
          }}
        >
          <h3 className="form-grid-title">Invite a user</h3>
          <div className="field">
            <label htmlFor="nu-email">Email</label>
            <input id="nu-email" type="email" required value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} />
          </div>
          <div className="field">
            <label htmlFor="nu-name">Name</label>
            <input id="nu-name" required value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
          </div>
          <div className="field">
            <label htmlFor="nu-password">Initial password</label>
            <input id="nu-password" type="password" autoComplete="new-password" required minLength={12} value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} />
          </div>
          <div className="field">
            <label htmlFor="nu-role">Role</label>
            <select id="nu-role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as Role })}>
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {titleCase(r)}
                </option>
              ))}
            </select>
          </div>
          {create.error && <ErrorBanner error={create.error} />}
          <div className="form-actions">
            <button type="submit" className="btn btn-primary" disabled={create.isPending}>
              Add user
            </button>
          </div>
        </form>
      )}
    </Panel>
  );
}
