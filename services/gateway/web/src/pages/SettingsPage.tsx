import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";
import { api, errorMessage, isNotFound } from "../api";
import IntegrationsSection from "../components/integrations/IntegrationsSection";
import { ErrorBanner, PageHeader, Panel, Spinner, useToasts } from "../components/ui";
import { ago, titleCase, when } from "../format";
import { navigate, useSearch } from "../router";
import type { ApiKey, BillingSettings, Me, Role, Rule, SyncStatus, User } from "../types";

type Section = "psa" | "billing" | "rules" | "integrations" | "users" | "keys";

const SECTIONS: { id: Section; label: string; admin?: boolean }[] = [
  { id: "psa", label: "PSA connection" },
  { id: "billing", label: "Billing cycle" },
  { id: "rules", label: "Auto-reconcile rules" },
  { id: "integrations", label: "Integrations" },
  { id: "users", label: "Users and roles", admin: true },
  { id: "keys", label: "API keys", admin: true },
];

export default function SettingsPage({ me }: { me: Me }) {
  const search = useSearch();
  const isAdmin = me.role === "admin";
  // "vendors" was this section's name before connectors joined it; old links still land here.
  const asked = search.get("section") === "vendors" ? "integrations" : search.get("section");
  const section = (SECTIONS.find((s) => s.id === asked)?.id ?? "psa") as Section;
  return (
    <div className="page">
      <PageHeader title="Settings" subtitle={isAdmin ? undefined : "Only admins can change settings; you can look."} />
      <div className="settings-layout">
        <nav className="settings-nav" aria-label="Settings sections">
          <ul>
            {SECTIONS.filter((s) => isAdmin || !s.admin).map((s) => (
              <li key={s.id}>
                <a
                  href={`/settings?section=${s.id}`}
                  className={section === s.id ? "active" : undefined}
                  aria-current={section === s.id ? "page" : undefined}
                  onClick={(e) => {
                    e.preventDefault();
                    navigate(`/settings?section=${s.id}`);
                  }}
                >
                  {s.label}
                </a>
              </li>
            ))}
            <li>
              <a
                href="/activity"
                onClick={(e) => {
                  e.preventDefault();
                  navigate("/activity");
                }}
              >
                Activity log
              </a>
            </li>
          </ul>
        </nav>
        <div className="settings-body">
          {section === "psa" && <PsaSection isAdmin={isAdmin} />}
          {section === "billing" && <BillingSection isAdmin={isAdmin} />}
          {section === "rules" && <RulesSection isAdmin={isAdmin} />}
          {section === "integrations" && <IntegrationsSection isAdmin={isAdmin} />}
          {section === "users" && isAdmin && <UsersSection />}
          {section === "keys" && isAdmin && <KeysSection />}
        </div>
      </div>
    </div>
  );
}

function Unavailable({ error, what }: { error: unknown; what: string }) {
  if (!error) return null;
  if (isNotFound(error)) return <p className="muted">{what} cannot be managed on this server yet.</p>;
  return <ErrorBanner error={error} />;
}

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

export function PsaSection({ isAdmin }: { isAdmin: boolean }) {
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

function BillingSection({ isAdmin }: { isAdmin: boolean }) {
  const client = useQueryClient();
  const toasts = useToasts();
  const settings = useQuery({
    queryKey: ["settings", "billing"],
    queryFn: ({ signal }) => api.get<BillingSettings>("/api/v1/settings/billing", signal),
  });
  const [draft, setDraft] = useState<BillingSettings | null>(null);
  useEffect(() => {
    if (settings.data) setDraft(settings.data);
  }, [settings.data]);
  const save = useMutation({
    mutationFn: (body: BillingSettings) => api.put<BillingSettings>("/api/v1/settings/billing", body),
    onSuccess: () => {
      toasts.push({ message: "Billing settings saved", tone: "success" });
      void client.invalidateQueries({ queryKey: ["settings", "billing"] });
    },
  });
  return (
    <Panel title="Billing cycle">
      <Unavailable error={settings.error} what="The billing cycle" />
      {settings.isPending && <Spinner />}
      {draft && (
        <form
          className="form-grid"
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate(draft);
          }}
        >
          <fieldset disabled={!isAdmin} className="form-grid-inner">
            <div className="field">
              <label htmlFor="cycle-day">Cycle starts on day</label>
              <input
                id="cycle-day"
                type="number"
                min={1}
                max={28}
                value={draft.cycle_start_day}
                onChange={(e) => setDraft({ ...draft, cycle_start_day: Number(e.target.value) })}
              />
              <div className="hint">Actioned cards come back at the start of the next cycle.</div>
            </div>
            <div className="field">
              <label htmlFor="proration">Proration</label>
              <select
                id="proration"
                value={draft.proration_convention}
                onChange={(e) => setDraft({ ...draft, proration_convention: e.target.value as BillingSettings["proration_convention"] })}
              >
                <option value="actual_days">Actual days in the period</option>
                <option value="thirty_day">30-day month</option>
              </select>
            </div>
            <div className="field">
              <label htmlFor="rounding">Money rounding</label>
              <select id="rounding" value={draft.rounding} onChange={(e) => setDraft({ ...draft, rounding: e.target.value as BillingSettings["rounding"] })}>
                <option value="half_up">Half up</option>
                <option value="half_even">Half even (banker's)</option>
              </select>
            </div>
            <div className="field">
              <label htmlFor="auto-map">Auto-map accounts at score</label>
              <input
                id="auto-map"
                type="number"
                min={0}
                max={100}
                placeholder="Off"
                value={draft.auto_map_threshold ?? ""}
                onChange={(e) => setDraft({ ...draft, auto_map_threshold: e.target.value === "" ? null : e.target.value })}
              />
              <div className="hint">
                Leave empty to always ask. Mapping pre-selects only suggestions at or above this score (95 when empty).
              </div>
            </div>
            <LargeChangeFields draft={draft} setDraft={setDraft} />
          </fieldset>
          {save.error && <ErrorBanner error={save.error} />}
          {isAdmin && (
            <div className="form-actions">
              <button type="submit" className="btn btn-primary" disabled={save.isPending}>
                Save
              </button>
            </div>
          )}
        </form>
      )}
    </Panel>
  );
}

const LIMITS = [
  { key: "units", label: "Large change: more than … units", hint: "Units added or removed in one approval." },
  { key: "percent", label: "Large change: more than … %", hint: "Of the quantity the PSA bills today." },
  { key: "money", label: "Large change: more than … per period", hint: "Revenue change per billing period, in each card's currency." },
] as const;

/** The tenant's large-change limits: a change past any asks for a confirmation. Empty: no limit. */
function LargeChangeFields({ draft, setDraft }: { draft: BillingSettings; setDraft: (next: BillingSettings) => void }) {
  const limits = draft.large_change ?? { units: "100", percent: null, money: "5000" };
  return (
    <>
      {LIMITS.map(({ key, label, hint }) => (
        <div className="field" key={key}>
          <label htmlFor={`large-${key}`}>{label}</label>
          <input
            id={`large-${key}`}
            inputMode="decimal"
            placeholder="No limit"
            value={limits[key] ?? ""}
            onChange={(e) => setDraft({ ...draft, large_change: { ...limits, [key]: e.target.value.trim() || null } })}
          />
          <div className="hint">{hint} Approving such a change asks for a confirmation; rules never approve it.</div>
        </div>
      ))}
    </>
  );
}

function RulesSection({ isAdmin }: { isAdmin: boolean }) {
  const client = useQueryClient();
  const toasts = useToasts();
  const rules = useQuery({ queryKey: ["settings", "rules"], queryFn: ({ signal }) => api.get<Rule[]>("/api/v1/settings/rules", signal) });
  const [draft, setDraft] = useState<Rule[] | null>(null);
  useEffect(() => {
    if (rules.data) setDraft(rules.data);
  }, [rules.data]);
  const save = useMutation({
    mutationFn: (body: Rule[]) => api.put<Rule[]>("/api/v1/settings/rules", body),
    onSuccess: () => {
      toasts.push({ message: "Rules saved", tone: "success" });
      void client.invalidateQueries({ queryKey: ["settings", "rules"] });
    },
  });
  const update = (index: number, patch: Partial<Rule>) => setDraft((list) => (list ?? []).map((r, i) => (i === index ? { ...r, ...patch } : r)));
  return (
    <Panel title="Auto-reconcile rules">
      <p className="muted small">
        A card that fits a rule is approved without a click and logged as approved by the rule. With no rule, every change waits for a person.
      </p>
      <Unavailable error={rules.error} what="Auto-reconcile rules" />
      {rules.isPending && <Spinner />}
      {draft && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate(draft.map((r) => ({ ...r, max_units: r.max_units || null, max_percent: r.max_percent || null, max_money: r.max_money || null })));
          }}
        >
          <fieldset disabled={!isAdmin} className="plain-fieldset">
            <legend className="visually-hidden">Rules</legend>
            {draft.length === 0 && <p className="muted">No rule yet.</p>}
            {draft.map((rule, index) => (
              <div className="rule" key={index}>
                <div className="field">
                  <label htmlFor={`rule-name-${index}`}>Name</label>
                  <input id={`rule-name-${index}`} value={rule.name} required onChange={(e) => update(index, { name: e.target.value })} />
                </div>
                <div className="field">
                  <label htmlFor={`rule-vendor-${index}`}>Vendor</label>
                  <input id={`rule-vendor-${index}`} value={rule.vendor ?? ""} placeholder="Any" onChange={(e) => update(index, { vendor: e.target.value || null })} />
                </div>
                <div className="field">
                  <label htmlFor={`rule-dir-${index}`}>Direction</label>
                  <select id={`rule-dir-${index}`} value={rule.direction} onChange={(e) => update(index, { direction: e.target.value as Rule["direction"] })}>
                    <option value="any">Any</option>
                    <option value="increase">Increases only</option>
                    <option value="decrease">Decreases only</option>
                  </select>
                </div>
                <div className="field">
                  <label htmlFor={`rule-units-${index}`}>Max units</label>
                  <input id={`rule-units-${index}`} inputMode="decimal" value={rule.max_units ?? ""} onChange={(e) => update(index, { max_units: e.target.value })} />
                </div>
                <div className="field">
                  <label htmlFor={`rule-pct-${index}`}>Max %</label>
                  <input id={`rule-pct-${index}`} inputMode="decimal" value={rule.max_percent ?? ""} onChange={(e) => update(index, { max_percent: e.target.value })} />
                </div>
                <div className="field">
                  <label htmlFor={`rule-money-${index}`}>Max money</label>
                  <input id={`rule-money-${index}`} inputMode="decimal" value={rule.max_money ?? ""} onChange={(e) => update(index, { max_money: e.target.value })} />
                </div>
                <button type="button" className="icon-button" aria-label={`Remove rule ${rule.name || index + 1}`} onClick={() => setDraft(draft.filter((_, i) => i !== index))}>
                  ×
                </button>
              </div>
            ))}
          </fieldset>
          {save.error && <ErrorBanner error={save.error} />}
          {isAdmin && (
            <div className="form-actions">
              <button
                type="button"
                className="btn"
                onClick={() => setDraft([...(draft ?? []), { name: `Rule ${draft.length + 1}`, direction: "any", max_units: "2" }])}
              >
                Add rule
              </button>
              <button type="submit" className="btn btn-primary" disabled={save.isPending}>
                Save rules
              </button>
            </div>
          )}
        </form>
      )}
    </Panel>
  );
}

const ROLES: Role[] = ["viewer", "billing", "admin"];

function UsersSection() {
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

function KeysSection() {
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
