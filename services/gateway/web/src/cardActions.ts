// The card actions, one implementation for the card view, the list view and Details.
//
// Every write that changes the PSA, or takes cards out of sight, waits out an undo window:
// the cards leave at once, the toast offers Undo, and the request is sent when the toast
// expires (or the page is left, see ToastProvider). A dismissal is the exception: it only
// changes TrueUp, so it is sent at once and Undo restores the card.
import { useQueryClient, type QueryClient } from "@tanstack/react-query";
import { useCallback, useMemo } from "react";
import { api, errorMessage, newIdempotencyKey, qs } from "./api";
import { hideCards, type Hidden } from "./cards";
import { currentCycleStart } from "./cycles";
import { useToasts } from "./components/ui";
import type { ActionAccepted, BulkResult, Card, CardPage, ChangeRequest } from "./types";

/** How long a write waits for Undo before it is sent. */
export const UNDO_MS = 5000;

export interface AddRequest {
  contract_id: string;
  quantity: string;
  unit_price?: string;
  unit_cost?: string;
  effective_date?: string;
  prorate?: boolean;
  confirm?: boolean;
}

export type BulkAction = "approve" | "dismiss" | "set_effective_date";

export function describeCard(card: Card): string {
  return `${card.account_name} · ${card.service_line}`;
}

function plural(count: number): string {
  return `${count} card${count === 1 ? "" : "s"}`;
}

/**
 * An action's path, naming the billing cycle the cards were shown in: a view left open
 * across the turn of a cycle is refused (409) instead of acting on the new cycle's cards.
 */
function cardPath(client: QueryClient, card: Card, action: string): string {
  return `/api/v1/cards/${encodeURIComponent(card.card_id)}/${action}${qs({ cycle: currentCycleStart(client) })}`;
}

const NOTHING_HIDDEN: Hidden = { restore: () => undefined, release: () => undefined };

interface Deferred {
  /** Cards out of sight during the window (none for a change that leaves them pending). */
  hide: Card[];
  message: string;
  send: () => Promise<unknown>;
  /** The start of the message shown if the server refuses ("Could not approve …"). */
  failure: string;
}

export function useCardActions() {
  const client = useQueryClient();
  const toasts = useToasts();

  const settle = useCallback(() => {
    void client.invalidateQueries({ queryKey: ["cards"] });
    void client.invalidateQueries({ queryKey: ["metrics"] });
  }, [client]);

  const later = useCallback(
    ({ hide, message, send, failure }: Deferred) => {
      const hidden = hide.length > 0 ? hideCards(client, new Set(hide.map((card) => card.card_id))) : NOTHING_HIDDEN;
      toasts.push({
        message,
        tone: "success",
        actionLabel: "Undo",
        durationMs: UNDO_MS,
        onAction: hidden.restore,
        onExpire: () => {
          send().then(
            () => {
              hidden.release();
              settle();
            },
            (error: unknown) => {
              hidden.restore();
              toasts.push({ message: `${failure}: ${errorMessage(error)}`, tone: "error" });
            },
          );
        },
      });
    },
    [client, toasts, settle],
  );

  const approve = useCallback(
    (card: Card, change: ChangeRequest = {}, summary?: string) => {
      // A large change is never one click: the person confirms what it writes (Details has
      // its own checkbox and sends `confirm` already).
      if (card.large_change && !change.confirm) {
        const target = change.quantity ?? card.target_quantity ?? "?";
        const ok = window.confirm(
          `Large change for ${describeCard(card)}: ${card.psa_quantity ?? 0} → ${target} (${card.large_change}).\n\nWrite it to the PSA?`,
        );
        if (!ok) return;
        change = { ...change, confirm: true };
      }
      const key = newIdempotencyKey();
      later({
        hide: [card],
        message: `Approved ${describeCard(card)}: ${summary ?? `${card.psa_quantity ?? 0} → ${change.quantity ?? card.target_quantity ?? "?"}`}`,
        send: () => api.post<ActionAccepted>(cardPath(client, card, "approve"), change, { "Idempotency-Key": key }),
        failure: `Could not approve ${describeCard(card)}`,
      });
    },
    [later],
  );

  /** Add a New Revenue card's usage to a contract. */
  const add = useCallback(
    (card: Card, body: AddRequest, message: string) => {
      const key = newIdempotencyKey();
      later({
        hide: [card],
        message,
        send: () => api.post<ActionAccepted>(cardPath(client, card, "add"), body, { "Idempotency-Key": key }),
        failure: `Could not add ${describeCard(card)}`,
      });
    },
    [later],
  );

  const dismiss = useCallback(
    (card: Card, reason?: string) => {
      const hidden = hideCards(client, new Set([card.card_id]));
      const sent = api
        .post<ActionAccepted>(cardPath(client, card, "dismiss"), reason ? { reason } : {}, { "Idempotency-Key": newIdempotencyKey() })
        .then((accepted) => {
          hidden.release();
          return accepted;
        })
        .catch((error: unknown) => {
          hidden.restore();
          toasts.push({ message: `Could not dismiss: ${errorMessage(error)}`, tone: "error" });
          throw error;
        });
      // Its failure is shown already; Undo still needs to know about it.
      sent.catch(() => undefined);
      toasts.push({
        message: `Dismissed ${describeCard(card)} until the next billing cycle`,
        actionLabel: "Undo",
        onAction: () => {
          hidden.restore();
          void sent
            .then(() => api.post(cardPath(client, card, "restore")))
            .then(settle)
            .catch((error: unknown) => toasts.push({ message: `Could not undo: ${errorMessage(error)}`, tone: "error" }));
        },
        onExpire: settle,
      });
    },
    [client, toasts, settle],
  );

  const sendBulk = useCallback(
    async (body: Record<string, unknown>, key: string, verb: string): Promise<BulkResult> => {
      const result = await api.post<BulkResult>(`/api/v1/cards/bulk${qs({ cycle: currentCycleStart(client) })}`, body, { "Idempotency-Key": key });
      const rejected = result.rejected ?? [];
      if (rejected.length > 0) {
        // The refused cards are still pending on the server: the refetch brings them back.
        toasts.push({
          message: `${rejected.length} of ${plural(rejected.length + result.accepted.length)} not ${verb}: ${rejected[0]?.detail ?? ""}`,
          tone: "error",
        });
      }
      return result;
    },
    [client, toasts],
  );

  /** A bulk action; false when the person declined the confirmation of a large change. */
  const bulk = useCallback(
    (action: BulkAction, cards: Card[], effectiveDate?: string): boolean => {
      const ids = cards.map((card) => card.card_id);
      const key = newIdempotencyKey();
      if (action === "dismiss") {
        const hidden = hideCards(client, new Set(ids));
        const sent = sendBulk({ action, card_ids: ids }, key, "dismissed").then(
          (result) => {
            hidden.release();
            settle();
            return result.accepted.map((accepted) => accepted.card_id);
          },
          (error: unknown) => {
            hidden.restore();
            toasts.push({ message: `Could not dismiss: ${errorMessage(error)}`, tone: "error" });
            throw error;
          },
        );
        sent.catch(() => undefined);
        // A dismissal changes nothing outside TrueUp, so it can be undone after it was sent.
        toasts.push({
          message: `Dismissed ${plural(ids.length)}`,
          actionLabel: "Undo",
          onAction: () => {
            void sent
              .then((accepted) =>
                api.post<BulkResult>(`/api/v1/cards/bulk${qs({ cycle: currentCycleStart(client) })}`, { action: "restore", card_ids: accepted }, {
                  "Idempotency-Key": newIdempotencyKey(),
                }),
              )
              .then((undone) => {
                toasts.push({ message: `Restored ${plural(undone.accepted.length)}`, tone: "success" });
                settle();
              })
              .catch((error: unknown) => toasts.push({ message: `Could not undo: ${errorMessage(error)}`, tone: "error" }));
          },
        });
        return true;
      }
      if (action === "set_effective_date") {
        later({
          hide: [],
          message: `Effective date set on ${plural(ids.length)}`,
          send: () => sendBulk({ action, card_ids: ids, effective_date: effectiveDate }, key, "changed"),
          failure: "Could not set the effective date",
        });
        return true;
      }
      const large = cards.filter((card) => card.large_change);
      if (
        large.length > 0 &&
        !window.confirm(
          `${large.length} of the selected cards ${large.length === 1 ? "is a large change" : "are large changes"} (for example ${describeCard(large[0]!)}: ${large[0]!.large_change}).\n\nApprove them all?`,
        )
      ) {
        return false;
      }
      later({
        hide: cards,
        message: `Approved ${plural(ids.length)}`,
        send: () => sendBulk({ action, card_ids: ids, ...(large.length > 0 ? { confirm: true } : {}) }, key, "approved"),
        failure: "Could not approve",
      });
      return true;
    },
    [client, toasts, settle, later, sendBulk],
  );

  /** Write a failed card's change to the PSA again (a conflict is approved anew). */
  const retry = useCallback(
    (card: Card) => {
      const key = newIdempotencyKey();
      later({
        hide: [card],
        message: `Sending ${describeCard(card)} to the PSA again`,
        send: () => api.post<ActionAccepted>(cardPath(client, card, "retry"), {}, { "Idempotency-Key": key }),
        failure: `Could not retry ${describeCard(card)}`,
      });
    },
    [later],
  );

  /** Stop showing New Revenue cards for the card's account. */
  const suppressNewRevenue = useCallback(
    (card: Card) => {
      const shown = client.getQueriesData<CardPage>({ queryKey: ["cards"] }).flatMap(([, page]) => page?.items ?? []);
      later({
        hide: shown.filter((other) => other.kind === "new_revenue" && other.account_id === card.account_id),
        message: `New revenue cards for ${card.account_name} will no longer be shown`,
        send: () => api.patch<void>(`/api/v1/accounts/${encodeURIComponent(card.account_id ?? "")}`, { suppress_new_revenue: true }),
        failure: `Could not stop showing new revenue for ${card.account_name}`,
      });
    },
    [client, later],
  );

  /** Bring a dismissed card back: itself the undo of a dismissal, so it is sent at once. */
  const restore = useCallback(
    (card: Card) =>
      api
        .post<ActionAccepted>(cardPath(client, card, "restore"), {}, { "Idempotency-Key": newIdempotencyKey() })
        .then(() => {
          toasts.push({ message: `Restored ${describeCard(card)}: it is pending again`, tone: "success" });
          settle();
        })
        .catch((error: unknown) => toasts.push({ message: `Could not restore: ${errorMessage(error)}`, tone: "error" })),
    [toasts, settle],
  );

  return useMemo(
    () => ({ approve, add, dismiss, bulk, retry, restore, suppressNewRevenue }),
    [approve, add, dismiss, bulk, retry, restore, suppressNewRevenue],
  );
}
