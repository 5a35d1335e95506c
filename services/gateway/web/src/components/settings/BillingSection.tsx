import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { api } from "../../api";
import type { BillingSettings } from "../../types";
import { ErrorBanner, Panel, Spinner, useToasts } from "../ui";
import { settingsToSave, thresholdInput } from "./billing";
import Unavailable from "./Unavailable";

export default function BillingSection({ isAdmin }: { isAdmin: boolean }) {
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
    mutationFn: (body: BillingSettings) => api.put<BillingSettings>("/api/v1/settings/billing", settingsToSave(body)),
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
              <label htmlFor="suggestion-threshold">Pre-select mapping suggestions from score</label>
              <input
                id="suggestion-threshold"
                type="number"
                min={50}
                max={100}
                step="any"
                placeholder="95"
                aria-describedby="suggestion-threshold-hint"
                value={draft.suggestion_threshold ?? ""}
                onChange={(e) => setDraft({ ...draft, suggestion_threshold: thresholdInput(e.target.value) })}
              />
              <div className="hint" id="suggestion-threshold-hint">
                On the mapping page, the best suggestion scoring at least this is filled in for you to check and accept. It maps
                nothing by itself. 50 to 100; empty: 95.
              </div>
            </div>
            <div className="field">
              <label htmlFor="auto-apply-threshold">Map accounts without asking from score</label>
              <input
                id="auto-apply-threshold"
                type="number"
                min={90}
                max={100}
                step="any"
                placeholder="Off"
                aria-describedby="auto-apply-threshold-hint"
                value={draft.auto_apply_threshold ?? ""}
                onChange={(e) => setDraft({ ...draft, auto_apply_threshold: thresholdInput(e.target.value) })}
              />
              <div className="hint" id="auto-apply-threshold-hint">
                A vendor account whose best suggestion scores at least this is mapped by itself, with nobody checking. Empty (off):
                only identical names and PSA ids map themselves; everything else waits for a person. 90 to 100: a look-alike of
                another business never scores above 79.
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
