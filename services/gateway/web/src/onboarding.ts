// What the first screen decides on: whether a tenant is new (no PSA connection yet), or
// has begun the setup checklist in this tab. Kept out of the lazily loaded checklist.
import { useQuery } from "@tanstack/react-query";
import { api } from "./api";
import type { SyncStatus } from "./types";

const KEY = "trueup.onboarding";

/** The tenant's PSA connections (the settings page's query). With `pollUntilSynced`, it is
 * asked again every few seconds while a connection waits for its first sync to end. */
export function usePsaStatus(pollUntilSynced = false) {
  return useQuery({
    queryKey: ["psa"],
    queryFn: ({ signal }) => api.get<SyncStatus>("/api/v1/settings/psa", signal),
    retry: false,
    refetchInterval: (query) => {
      const connections = query.state.data?.connections ?? [];
      return pollUntilSynced && connections.length > 0 && !connections.some((c) => c.last_success_at) ? 3_000 : false;
    },
  });
}

/** Once begun, the checklist stays the first screen of this tab after the PSA is
 * connected, until there are cards to review or the person leaves it. */
export function startOnboarding(): void {
  window.sessionStorage.setItem(KEY, "1");
}

export function onboardingStarted(): boolean {
  return window.sessionStorage.getItem(KEY) === "1";
}

export function endOnboarding(): void {
  window.sessionStorage.removeItem(KEY);
}
