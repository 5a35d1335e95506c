import { useMutation, useQuery } from "@tanstack/react-query";
import { useEffect, useState, type ReactNode } from "react";
import { api, errorMessage } from "../api";
import { useCards } from "../cards";
import { Spinner, useToasts } from "../components/ui";
import { ago } from "../format";
import { endOnboarding, usePsaStatus } from "../onboarding";
import { navigate } from "../router";
import type { Me } from "../types";
import PsaSection from "../components/settings/PsaSection";

interface UsagePage {
  items: unknown[];
}

const INTEGRATIONS = "/settings?section=integrations";

type StepId = "psa" | "vendors" | "sync" | "cards";

interface Step {
  id: StepId;
  title: string;
  done: boolean;
  summary: string;
  body: ReactNode;
}

/** The first screen of a new tenant: connect a PSA, add vendors, first sync, first cards.
 * Each step's state comes from the services, not from what was clicked here. */
export default function Onboarding({ me }: { me: Me }) {
  const isAdmin = me.role === "admin";
  const toasts = useToasts();
  const psa = usePsaStatus(true);
  const connections = psa.data?.connections ?? [];
  const connected = connections.length > 0;
  const synced = connections.some((c) => c.last_success_at);
  const syncing = connections.some((c) => c.status === "syncing");
  const usage = useQuery({
    queryKey: ["onboarding-usage"],
    queryFn: ({ signal }) => api.get<UsagePage>("/api/v1/usage?limit=1", signal),
    retry: false,
    // Usage arrives from imports, webhooks and connectors, none of which this page sees.
    refetchInterval: 10_000,
  });
  const vendors = (usage.data?.items.length ?? 0) > 0;
  const cards = useCards({});
  const cardCount = cards.data?.items.length ?? 0;

  const sync = useMutation({
    mutationFn: () => api.post("/api/v1/settings/psa/sync", { full: true }),
    onSuccess: () => {
      toasts.push({ message: "Sync started", tone: "success" });
      void psa.refetch();
    },
    onError: (error) => toasts.push({ message: errorMessage(error), tone: "error" }),
  });

  const steps: Step[] = [
    {
      id: "psa",
      title: "Connect your PSA",
      done: connected,
      summary: connected
        ? `${connections.map((c) => c.name).join(", ")} connected. Test it below any time.`
        : "Your contracts and their quantities come from the PSA.",
      body: <PsaSection isAdmin={isAdmin} />,
    },
    {
      id: "vendors",
      title: "Add your vendors",
      done: vendors,
      summary: vendors ? "Vendor usage has arrived." : "The counts to compare with: a connector, a CSV export, or a webhook.",
      body: (
        <div className="onboarding-actions">
          {/* A connector polls Pax8, NinjaOne or Huntress on its own: the least work, so first. */}
          <button type="button" className="btn btn-primary" onClick={() => navigate(INTEGRATIONS)}>
            Add a connector
          </button>
          <button type="button" className="btn" onClick={() => navigate("/import")}>
            Import a vendor CSV
          </button>
          <button type="button" className="btn" onClick={() => navigate(INTEGRATIONS)}>
            Set up a webhook
          </button>
        </div>
      ),
    },
    {
      id: "sync",
      title: "Run the first sync",
      done: synced,
      summary: synced
        ? `Last synced ${ago(connections.find((c) => c.last_success_at)?.last_success_at)}: ${psa.data?.active_accounts ?? 0} active accounts.`
        : syncing
          ? "Reading your PSA's accounts, contracts and line items…"
          : "Connect a PSA first; its first sync starts on its own.",
      body: (
        <div className="onboarding-actions">
          <button type="button" className="btn btn-primary" disabled={!connected || sync.isPending} onClick={() => sync.mutate()}>
            {syncing ? "Syncing…" : "Sync now"}
          </button>
          {connections
            .filter((c) => c.last_error)
            .map((c) => (
              <span key={c.connection_id} className="error-text small">
                {c.name}: {c.last_error}
              </span>
            ))}
        </div>
      ),
    },
    {
      id: "cards",
      title: "See your first cards",
      done: cardCount > 0,
      summary:
        cardCount > 0
          ? `${cardCount} cards are ready to review.`
          : "Cards appear once contracts and usage meet; each shows one difference to fix.",
      body: (
        <div className="onboarding-actions">
          <button type="button" className="btn btn-primary" disabled={cardCount === 0} onClick={() => leave("/cards")}>
            Open the cards
          </button>
        </div>
      ),
    },
  ];
  const doneCount = steps.filter((s) => s.done).length;
  const current = steps.find((s) => !s.done)?.id ?? null;
  // The first step not done opens, and stays open once done (the person may want to test
  // the connection just saved) until they open another.
  const [open, setOpen] = useState<StepId | "none" | null>(null);
  useEffect(() => {
    if (open === null && current !== null && !psa.isPending) setOpen(current);
  }, [open, current, psa.isPending]);
  const shown = open ?? current;

  function leave(path: string) {
    endOnboarding();
    navigate(path);
  }

  return (
    <div className="onboarding" data-testid="onboarding">
      <header className="onboarding-header">
        <div>
          <h1>Welcome to TrueUp</h1>
          <p className="muted">
            Four steps from your PSA and your vendors to the first differences worth fixing. {doneCount} of {steps.length} done.
          </p>
        </div>
        <button type="button" className="btn btn-small" onClick={() => leave("/cards")}>
          Skip for now
        </button>
      </header>
      <div className="onboarding-progress" role="progressbar" aria-label="Setup progress" aria-valuemin={0} aria-valuemax={steps.length} aria-valuenow={doneCount}>
        <span style={{ width: `${(doneCount / steps.length) * 100}%` }} />
      </div>
      {psa.isPending ? (
        <Spinner />
      ) : (
        <ol className="onboarding-steps">
          {steps.map((step, index) => (
            <li key={step.id} className={`onboarding-step${step.done ? " done" : ""}${shown === step.id ? " open" : ""}`} data-step={step.id}>
              <button
                type="button"
                className="onboarding-step-head"
                aria-expanded={shown === step.id}
                onClick={() => setOpen(shown === step.id ? "none" : step.id)}
              >
                <span className="onboarding-mark" aria-hidden="true">
                  {step.done ? "✓" : index + 1}
                </span>
                <span className="onboarding-title">
                  <strong>{step.title}</strong>
                  <span className="muted small">{step.summary}</span>
                </span>
                <span className={`pill ${step.done ? "pill-applied" : "pill-pending"}`} data-testid={`step-${step.id}-state`}>
                  {step.done ? "Done" : "Not done"}
                </span>
              </button>
              {shown === step.id && <div className="onboarding-body">{step.body}</div>}
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
