import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { api } from "../../api";
import type { Rule } from "../../types";
import { ErrorBanner, Panel, Spinner, useToasts } from "../ui";
import Unavailable from "./Unavailable";

export default function RulesSection({ isAdmin }: { isAdmin: boolean }) {
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
