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

interface Hidden {
  /** Show the cards again (undo, or the server refused). */
  restore: () => void;
  /** The server has taken the action: its own lists hide the cards from now on. */
  release: () => void;
}

/** Hide cards from every cached card list at once (optimistic). */
function hideCards(client: QueryClient, ids: Set<string>): Hidden {
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
      for (const [key, data] of snapshots) client.setQueryData(key, data);
    },
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
      if (card.large_change) {
        // A large change is never one click: the person confirms what it writes.
        const target = change.quantity ?? card.target_quantity ?? "?";
        const ok = window.confirm(
          `Large change for ${describeCard(card)}: ${card.psa_quantity ?? 0} → ${target} (${card.large_change}).\n\nWrite it to the PSA?`,
        );
        if (!ok) return;
        change = { ...change, confirm: true };
      }
      const hidden = hideCards(client, new Set([card.card_id]));
      const key = newIdempotencyKey();
      toasts.push({
        message: `Approved ${describeCard(card)}: ${card.psa_quantity ?? 0} → ${change.quantity ?? card.target_quantity ?? "?"}`,
        tone: "success",
        actionLabel: "Undo",
        durationMs: UNDO_MS,
        onAction: hidden.restore,
        onExpire: () => {
          api
            .post<ActionAccepted>(`/api/v1/cards/${encodeURIComponent(card.card_id)}/approve`, change, {
              "Idempotency-Key": key,
            })
            .then(() => {
              hidden.release();
              settle();
            })
            .catch((error: unknown) => {
              hidden.restore();
              toasts.push({ message: `Could not approve ${describeCard(card)}: ${errorMessage(error)}`, tone: "error" });
            });
        },
      });
    },
    [client, toasts, settle],
  );

  const dismiss = useCallback(
    (card: Card, reason?: string) => {
      const hidden = hideCards(client, new Set([card.card_id]));
      const sent = api
        .post<ActionAccepted>(`/api/v1/cards/${encodeURIComponent(card.card_id)}/dismiss`, reason ? { reason } : {}, {
          "Idempotency-Key": newIdempotencyKey(),
        })
        .then((accepted) => {
          hidden.release();
          return accepted;
        })
        .catch((error: unknown) => {
          hidden.restore();
          toasts.push({ message: `Could not dismiss: ${errorMessage(error)}`, tone: "error" });
          throw error;
        });
      toasts.push({
        message: `Dismissed ${describeCard(card)} until the next billing cycle`,
        actionLabel: "Undo",
        onAction: () => {
          hidden.restore();
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
    async (
      action: "approve" | "dismiss" | "restore" | "set_effective_date",
      cards: Card[],
      effectiveDate?: string,
    ): Promise<BulkResult> => {
      const ids = cards.map((card) => card.card_id);
      const hides = action === "approve" || action === "dismiss";
      const hidden = hides ? hideCards(client, new Set(ids)) : null;
      const large = action === "approve" ? cards.filter((card) => card.large_change) : [];
      if (
        large.length > 0 &&
        !window.confirm(
          `${large.length} of the selected cards ${large.length === 1 ? "is a large change" : "are large changes"} (for example ${describeCard(large[0]!)}: ${large[0]!.large_change}).\n\nApprove them all?`,
        )
      ) {
        hidden?.restore();
        return { accepted: [], rejected: [] };
      }
      try {
        const result = await api.post<BulkResult>(
          "/api/v1/cards/bulk",
          {
            action,
            card_ids: ids,
            ...(effectiveDate ? { effective_date: effectiveDate } : {}),
            ...(large.length > 0 ? { confirm: true } : {}),
          },
          { "Idempotency-Key": newIdempotencyKey() },
        );
        const verb = { approve: "Approved", dismiss: "Dismissed", restore: "Restored", set_effective_date: "Effective date set on" }[
          action
        ];
        const rejected = result.rejected ?? [];
        const accepted = result.accepted.map((a) => a.card_id);
        toasts.push({
          message: `${verb} ${accepted.length} card${accepted.length === 1 ? "" : "s"}${
            rejected.length ? `; ${rejected.length} refused: ${rejected[0]?.detail ?? ""}` : ""
          }`,
          tone: rejected.length ? "error" : "success",
          // A dismissal changes nothing outside TrueUp, so it can be undone like a single one.
          ...(action === "dismiss" && accepted.length > 0
            ? {
                actionLabel: "Undo",
                onAction: () => {
                  void api
                    .post<BulkResult>("/api/v1/cards/bulk", { action: "restore", card_ids: accepted }, {
                      "Idempotency-Key": newIdempotencyKey(),
                    })
                    .then((undone) => {
                      toasts.push({ message: `Restored ${undone.accepted.length} dismissed cards`, tone: "success" });
                      settle();
                    })
                    .catch((error: unknown) => toasts.push({ message: `Could not undo: ${errorMessage(error)}`, tone: "error" }));
                },
              }
            : {}),
        });
        hidden?.release();
        settle();
        return result;
      } catch (error) {
        hidden?.restore();
        toasts.push({ message: errorMessage(error), tone: "error" });
        throw error;
      }
    },
    [client, toasts, settle],
  );

  const restoreCard = useCallback(
    (card: Card) =>
      api
        .post<ActionAccepted>(`/api/v1/cards/${encodeURIComponent(card.card_id)}/restore`, {}, {
          "Idempotency-Key": newIdempotencyKey(),
        })
        .then(() => {
          toasts.push({ message: `Restored ${describeCard(card)}: it is pending again`, tone: "success" });
          settle();
        })
        .catch((error: unknown) => toasts.push({ message: `Could not restore: ${errorMessage(error)}`, tone: "error" })),
    [toasts, settle],
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

  return { approve, dismiss, bulk, retry, restore: restoreCard };
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
