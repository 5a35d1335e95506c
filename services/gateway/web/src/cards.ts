// Card data: queries, optimistic hiding while an action is pending, and live invalidation.
// The actions themselves, with their undo window, are in cardActions.ts.
import { useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { api, qs } from "./api";
import type { Card, CardPage } from "./types";

export const PAGE_LIMIT = 1000;

export interface CardFilters {
  kind?: string;
  state?: string;
  vendor?: string;
  q?: string;
  include_hidden?: boolean;
}

/** Every card matching the filters: pages are followed to the end (a few thousand at most). */
export async function fetchAllCards(filters: CardFilters, signal?: AbortSignal): Promise<CardPage> {
  const items: Card[] = [];
  let cursor: string | null = null;
  let totals: CardPage["totals"];
  for (let page = 0; page < 50; page++) {
    const result: CardPage = await api.get<CardPage>(
      `/api/v1/cards${qs({ ...filters, limit: PAGE_LIMIT, cursor })}`,
      signal,
    );
    items.push(...result.items);
    totals ??= result.totals;
    cursor = result.next_cursor;
    if (!cursor) break;
  }
  return { items, next_cursor: null, totals };
}

/**
 * Cards hidden here whose action the server has not taken yet (an approval waits out its
 * undo window first): a list fetched meanwhile, e.g. after a live update, still shows
 * them as pending, and must not bring them back.
 */
const awaitingServer = new Set<string>();

function withoutAwaiting(page: CardPage): CardPage {
  return awaitingServer.size === 0 ? page : { ...page, items: page.items.filter((card) => !awaitingServer.has(card.card_id)) };
}

export function useCards(filters: CardFilters) {
  return useQuery({
    queryKey: ["cards", filters],
    queryFn: async ({ signal }) => withoutAwaiting(await fetchAllCards(filters, signal)),
  });
}

export interface Hidden {
  /** Show the cards again (undo, or the server refused). */
  restore: () => void;
  /** The server has taken the action: its own lists hide the cards from now on. */
  release: () => void;
}

/** Hide cards from every cached card list at once (optimistic). */
export function hideCards(client: QueryClient, ids: Set<string>): Hidden {
  for (const id of ids) awaitingServer.add(id);
  const snapshots = client.getQueriesData<CardPage>({ queryKey: ["cards"] });
  client.setQueriesData<CardPage>({ queryKey: ["cards"] }, (page) =>
    page ? { ...page, items: page.items.filter((card) => !ids.has(card.card_id)) } : page,
  );
  const release = () => {
    for (const id of ids) awaitingServer.delete(id);
  };
  return {
    release,
    restore: () => {
      release();
      // The lists as they were, less what other actions have hidden since (an Undo of the
      // first of two approvals must not bring the second card back).
      for (const [key, data] of snapshots) client.setQueryData(key, data ? withoutAwaiting(data) : data);
    },
  };
}

/** Server-sent events: the card lists refresh themselves when the server says they changed. */
export function useLiveCards(enabled: boolean): void {
  const client = useQueryClient();
  useEffect(() => {
    if (!enabled || typeof EventSource === "undefined") return;
    let timer: number | undefined;
    let reconnect: number | undefined;
    let source: EventSource | null = null;
    let stopped = false;
    const onChange = (event: MessageEvent<string>) => {
      let ids: string[] = [];
      try {
        ids = (JSON.parse(event.data) as { card_ids?: string[] }).card_ids ?? [];
      } catch {
        // A change without a body still means "refresh".
      }
      for (const id of ids) void client.invalidateQueries({ queryKey: ["card", id] });
      // Coalesce bursts (an import changes hundreds of cards in a second).
      window.clearTimeout(timer);
      timer = window.setTimeout(() => {
        void client.invalidateQueries({ queryKey: ["cards"] });
        void client.invalidateQueries({ queryKey: ["metrics"] });
        void client.invalidateQueries({ queryKey: ["unmapped"] });
        // A new cycle starts with a recompute: its picker and counts follow.
        void client.invalidateQueries({ queryKey: ["cycles"] });
      }, 250);
    };
    let opened = false;
    const connect = () => {
      source = new EventSource("/api/v1/events", { withCredentials: true });
      // After a gap, changes may have been missed: refresh once the stream is back.
      source.onopen = () => {
        if (opened) void client.invalidateQueries({ queryKey: ["cards"] });
        opened = true;
      };
      source.addEventListener("cards.changed", onChange as EventListener);
      source.onmessage = onChange;
      // The browser retries a dropped stream by itself, but not one refused (a 401 after
      // the session expired, a 503 during a restart): try again a little later.
      source.onerror = () => {
        if (source?.readyState === EventSource.CLOSED && !stopped) {
          reconnect = window.setTimeout(connect, 15_000);
        }
      };
    };
    connect();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      window.clearTimeout(reconnect);
      source?.close();
    };
  }, [enabled, client]);
}
