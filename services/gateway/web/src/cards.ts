// Card data: queries, actions with their undo window, and live invalidation.
import { useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { useCallback, useEffect } from "react";
import { api, errorMessage, newIdempotencyKey, qs } from "./api";
import { useToasts } from "./components/ui";
import type { ActionAccepted, BulkResult, Card, CardPage, ChangeRequest } from "./types";

export const PAGE_LIMIT = 1000;
/** How long an approval waits for Undo before it is sent to the PSA. */
export const UNDO_MS = 5000;

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

export function useCards(filters: CardFilters) {
  return useQuery({
    queryKey: ["cards", filters],
    queryFn: ({ signal }) => fetchAllCards(filters, signal),
  });
}

/** Hide cards from every cached card list at once (optimistic), returning a restore. */
function hideCards(client: QueryClient, ids: Set<string>): () => void {
  const snapshots = client.getQueriesData<CardPage>({ queryKey: ["cards"] });
  client.setQueriesData<CardPage>({ queryKey: ["cards"] }, (page) =>
    page ? { ...page, items: page.items.filter((card) => !ids.has(card.card_id)) } : page,
  );
  return () => {
    for (const [key, data] of snapshots) client.setQueryData(key, data);
  };
}

export function describeCard(card: Card): string {
  return `${card.account_name} · ${card.service_line}`;
}

/**
 * Approve and Dismiss as the card view does them: the card leaves at once; an approval is
 * only sent when its undo window has passed (a PSA write cannot be taken back), a dismissal
 * is sent at once and Undo restores it.
 */
export function useCardActions() {
  const client = useQueryClient();
  const toasts = useToasts();

  const settle = useCallback(() => {
    void client.invalidateQueries({ queryKey: ["cards"] });
    void client.invalidateQueries({ queryKey: ["metrics"] });
  }, [client]);

  const approve = useCallback(
    (card: Card, change: ChangeRequest = {}) => {
      const restore = hideCards(client, new Set([card.card_id]));
      const key = newIdempotencyKey();
      toasts.push({
        message: `Approved ${describeCard(card)}: ${card.psa_quantity ?? 0} → ${change.quantity ?? card.target_quantity ?? card.vendor_quantity ?? "?"}`,
        tone: "success",
        actionLabel: "Undo",
        durationMs: UNDO_MS,
        onAction: restore,
        onExpire: () => {
          api
            .post<ActionAccepted>(`/api/v1/cards/${encodeURIComponent(card.card_id)}/approve`, change, {
              "Idempotency-Key": key,
            })
            .then(settle)
            .catch((error: unknown) => {
              restore();
              toasts.push({ message: `Could not approve ${describeCard(card)}: ${errorMessage(error)}`, tone: "error" });
            });
        },
      });
    },
    [client, toasts, settle],
  );

  const dismiss = useCallback(
    (card: Card, reason?: string) => {
      const restore = hideCards(client, new Set([card.card_id]));
      const sent = api
        .post<ActionAccepted>(`/api/v1/cards/${encodeURIComponent(card.card_id)}/dismiss`, reason ? { reason } : {}, {
          "Idempotency-Key": newIdempotencyKey(),
        })
        .catch((error: unknown) => {
          restore();
          toasts.push({ message: `Could not dismiss: ${errorMessage(error)}`, tone: "error" });
          throw error;
        });
      toasts.push({
        message: `Dismissed ${describeCard(card)} until the next billing cycle`,
        actionLabel: "Undo",
        onAction: () => {
          restore();
          void sent
            .then(() => api.post(`/api/v1/cards/${encodeURIComponent(card.card_id)}/restore`))
            .then(settle)
            .catch((error: unknown) => toasts.push({ message: `Could not undo: ${errorMessage(error)}`, tone: "error" }));
        },
        onExpire: settle,
      });
    },
    [client, toasts, settle],
  );

  const bulk = useCallback(
    async (action: "approve" | "dismiss" | "set_effective_date", cards: Card[], effectiveDate?: string) => {
      const ids = cards.map((card) => card.card_id);
      const restore = action === "set_effective_date" ? () => undefined : hideCards(client, new Set(ids));
      try {
        const result = await api.post<BulkResult>(
          "/api/v1/cards/bulk",
          { action, card_ids: ids, ...(effectiveDate ? { effective_date: effectiveDate } : {}) },
          { "Idempotency-Key": newIdempotencyKey() },
        );
        const verb = action === "approve" ? "Approved" : action === "dismiss" ? "Dismissed" : "Effective date set on";
        const rejected = result.rejected ?? [];
        toasts.push({
          message: `${verb} ${result.accepted.length} card${result.accepted.length === 1 ? "" : "s"}${
            rejected.length ? `; ${rejected.length} refused: ${rejected[0]?.detail ?? ""}` : ""
          }`,
          tone: rejected.length ? "error" : "success",
        });
        settle();
        return result;
      } catch (error) {
        restore();
        toasts.push({ message: errorMessage(error), tone: "error" });
        throw error;
      }
    },
    [client, toasts, settle],
  );

  const retry = useCallback(
    (card: Card) => {
      api
        .post<ActionAccepted>(`/api/v1/cards/${encodeURIComponent(card.card_id)}/retry`, {}, { "Idempotency-Key": newIdempotencyKey() })
        .then(() => {
          toasts.push({ message: `Sending ${describeCard(card)} to the PSA again`, tone: "success" });
          settle();
        })
        .catch((error: unknown) => toasts.push({ message: `Could not retry: ${errorMessage(error)}`, tone: "error" }));
    },
    [toasts, settle],
  );

  return { approve, dismiss, bulk, retry };
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
