import { useInfiniteQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api, isNotFound, qs } from "../api";
import { EmptyState, ErrorBanner, NotYet, PageHeader, Spinner, useDebounced } from "../components/ui";
import { qty, titleCase, when } from "../format";
import type { ActivityEntry, ActivityPage as Page } from "../types";

const ACTION_TYPES = ["approve", "add", "dismiss", "restore", "retry", "writeback", "import", "mapping", "psa_sync", "settings", "security", "usage_removal"];

export default function ActivityPage() {
  const [since, setSince] = useState("");
  const [until, setUntil] = useState("");
  const [account, setAccount] = useState("");
  const [serviceLine, setServiceLine] = useState("");
  const [actionType, setActionType] = useState("");
  const [outcome, setOutcome] = useState("");
  const filters = useDebounced(
    {
      since: since ? `${since}T00:00:00Z` : undefined,
      until: until ? `${until}T23:59:59Z` : undefined,
      account: account.trim() || undefined,
      service_line: serviceLine.trim() || undefined,
      action_type: actionType || undefined,
      outcome: outcome || undefined,
    },
    300,
  );

  const activity = useInfiniteQuery({
    queryKey: ["activity", filters],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam, signal }) => api.get<Page>(`/api/v1/activity${qs({ ...filters, limit: 100, cursor: pageParam })}`, signal),
    getNextPageParam: (last) => last.next_cursor,
  });

  const entries = activity.data?.pages.flatMap((page) => page.items) ?? [];
  const exportHref = `/api/v1/activity/export${qs(filters)}`;
  const anyFilter = Object.values(filters).some(Boolean);

  if (activity.error && isNotFound(activity.error)) return <NotYet what="The activity log" />;

  return (
    <div className="page">
      <PageHeader
        title="Activity log"
        subtitle="Everything TrueUp did and who asked for it, newest first."
        actions={
          <a className="btn" href={exportHref} download>
            Export CSV
          </a>
        }
      />
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Activity filters">
        <div className="field">
          <label htmlFor="act-since">From</label>
          <input id="act-since" type="date" value={since} onChange={(e) => setSince(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="act-until">To</label>
          <input id="act-until" type="date" value={until} onChange={(e) => setUntil(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="act-account">Account</label>
          <input
            id="act-account"
            type="search"
            value={account}
            onChange={(e) => setAccount(e.target.value)}
            placeholder="Part of a name"
            autoComplete="off"
          />
        </div>
        <div className="field">
          <label htmlFor="act-line">Service line</label>
          <input id="act-line" value={serviceLine} onChange={(e) => setServiceLine(e.target.value)} placeholder="Exact name" />
        </div>
        <div className="field">
          <label htmlFor="act-type">Action</label>
          <select id="act-type" value={actionType} onChange={(e) => setActionType(e.target.value)}>
            <option value="">Any</option>
            {ACTION_TYPES.map((t) => (
              <option key={t} value={t}>
                {titleCase(t)}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="act-outcome">Outcome</label>
          <select id="act-outcome" value={outcome} onChange={(e) => setOutcome(e.target.value)}>
            <option value="">Any</option>
            <option value="applied">Applied</option>
            <option value="conflict">Conflict</option>
            <option value="failed">Failed</option>
          </select>
        </div>
      </form>
      <ErrorBanner error={activity.error} onRetry={() => void activity.refetch()} />
      {activity.isPending ? (
        <Spinner />
      ) : entries.length === 0 && !activity.isError ? (
        <EmptyState icon="☰" title={anyFilter ? "Nothing matches these filters" : "No activity yet"}>
          {anyFilter
            ? "Widen the dates or clear a filter."
            : "Approvals, dismissals, imports and write-backs to your PSA are listed here as they happen. The log keeps two weeks by default."}
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="grid" data-testid="activity">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">Action</th>
                <th scope="col">Account · service</th>
                <th scope="col">Change</th>
                <th scope="col">Summary</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((entry) => (
                <tr key={entry.entry_id}>
                  <td className="nowrap">{when(entry.occurred_at)}</td>
                  <td>{entry.actor?.name ?? entry.actor?.id ?? "system"}</td>
                  <td>
                    <span className="nowrap">{titleCase(entry.action_type)}</span>{" "}
                    {entry.outcome && <span className={`pill pill-${entry.outcome}`}>{entry.outcome}</span>}
                  </td>
                  <td>
                    <div className="cell-stack">
                      <span>{entry.account_name}</span>
                      <span className="muted small">{entry.service_line}</span>
                    </div>
                  </td>
                  <td className="nowrap">
                    {changeText(entry)}
                    {entry.effective_date && <div className="muted small">from {entry.effective_date}</div>}
                  </td>
                  <td>
                    {entry.summary}
                    {entry.psa_record_url && (
                      <>
                        {" "}
                        <a href={entry.psa_record_url} target="_blank" rel="noreferrer">
                          Open in PSA
                        </a>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {activity.hasNextPage && (
            <div className="load-more">
              <button type="button" className="btn" disabled={activity.isFetchingNextPage} onClick={() => void activity.fetchNextPage()}>
                {activity.isFetchingNextPage ? "Loading…" : "Load more"}
              </button>
            </div>
          )}
        </div>
      )}
      <p className="muted small">{entries.length ? `${entries.length} entries shown` : ""}</p>
    </div>
  );
}

/**
 * "20 → 45 → 48 → 50" for a change with steps; "set to 20" when the quantity before it was
 * never known (an add); "billed 97" for a dismissal or its undo; nothing for an entry
 * without quantities (an import, a mapping) rather than a placeholder.
 */
function changeText(entry: ActivityEntry): string {
  const known = (q: string | null | undefined): q is string => q !== null && q !== undefined && q !== "";
  const steps = (entry.prorated_lines ?? []).map((s) => s.quantity).filter(known);
  const after = steps.length ? steps : known(entry.quantity_after) ? [entry.quantity_after] : [];
  const before = known(entry.quantity_before) ? entry.quantity_before : null;
  if (after.length) {
    const chain = after.map((q) => qty(q)).join(" → ");
    return before === null ? `set to ${chain}` : `${qty(before)} → ${chain}`;
  }
  return before === null ? "" : `billed ${qty(before)}`;
}
