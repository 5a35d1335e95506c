// Billing cycles: the open one and the closed ones, whose cards are kept read-only.
// Which cycle a view shows lives in the address (`?cycle=<start>`), so a reload, a link
// and the back button keep it.
import { useQuery, type QueryClient } from "@tanstack/react-query";
import { api, qs } from "./api";
import { navigate, useSearch } from "./router";
import type { Actor, Card, CurrencyTotals, ProratedChange } from "./types";

export interface Cycle {
  start: string;
  /** Inclusive. */
  last_day: string;
  closed: boolean;
  closed_at?: string | null;
  cards: number;
  approved: number;
  dismissed: number;
  approved_by_currency: CurrencyTotals[];
}

export interface CycleList {
  current: Cycle;
  closed: Cycle[];
}

export interface CycleAction {
  action_id: string;
  action: "approve" | "add" | "dismiss";
  actor: Actor;
  at: string;
  reason?: string | null;
  changes: ProratedChange[];
  large_change?: string | null;
}

export interface CycleCard extends Card {
  action?: CycleAction | null;
}

interface CycleCardPage {
  cycle: Cycle;
  items: CycleCard[];
  next_cursor: string | null;
}

export function useCycles() {
  return useQuery({
    queryKey: ["cycles"],
    queryFn: ({ signal }) => api.get<CycleList>("/api/v1/cycles", signal),
    staleTime: 60_000,
  });
}

/** Start of the current cycle as last fetched (undefined before the first fetch). */
export function currentCycleStart(client: QueryClient): string | undefined {
  return client.getQueryData<CycleList>(["cycles"])?.current.start;
}

/** Every card of a closed cycle (pages followed to the end). */
export function useCycleCards(start: string) {
  return useQuery({
    queryKey: ["cycle-cards", start],
    queryFn: async ({ signal }) => {
      const items: CycleCard[] = [];
      let cursor: string | null = null;
      let cycle: Cycle | undefined;
      for (let page = 0; page < 50; page++) {
        const result: CycleCardPage = await api.get<CycleCardPage>(
          `/api/v1/cycles/${encodeURIComponent(start)}/cards${qs({ limit: 1000, cursor })}`,
          signal,
        );
        items.push(...result.items);
        cycle ??= result.cycle;
        cursor = result.next_cursor;
        if (!cursor) break;
      }
      return { cycle: cycle as Cycle, items };
    },
    // A closed cycle never changes.
    staleTime: Infinity,
  });
}

/** The closed cycle the address asks for, or null for the current one. */
export function useSelectedCycle(): string | null {
  return useSearch().get("cycle") || null;
}

export function selectCycle(start: string | null): void {
  const path = window.location.pathname;
  navigate(start ? `${path}?cycle=${encodeURIComponent(start)}` : path);
}

const monthDay = new Intl.DateTimeFormat("en-US", { month: "short", day: "numeric", timeZone: "UTC" });
const monthDayYear = new Intl.DateTimeFormat("en-US", { month: "short", day: "numeric", year: "numeric", timeZone: "UTC" });

function utc(iso: string): Date {
  return new Date(`${iso}T00:00:00Z`);
}

/** "Nov 1 – Nov 30, 2026"; the year on both ends when the cycle spans two. */
export function cycleLabel(cycle: Pick<Cycle, "start" | "last_day">): string {
  const start = utc(cycle.start);
  const end = utc(cycle.last_day);
  const first = start.getUTCFullYear() === end.getUTCFullYear() ? monthDay.format(start) : monthDayYear.format(start);
  return `${first} – ${monthDayYear.format(end)}`;
}

export function actionLabel(action: CycleAction["action"]): string {
  return action === "approve" ? "Approved" : action === "add" ? "Added" : "Dismissed";
}
