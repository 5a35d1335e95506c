// The card view's own preferences and keyboard: density and order, and j/k/a/d/Enter.
import { useCallback, useEffect, useState } from "react";
import type { Card } from "./types";
import { num } from "./format";

export type Density = "comfortable" | "compact";
export type CardOrder = "service_line" | "at_risk";

/** A preference kept in localStorage under one key per user (a shared browser keeps two). */
export function useStoredPreference<T extends string>(key: string, allowed: readonly T[], fallback: T): [T, (value: T) => void] {
  const read = (): T => {
    try {
      const stored = window.localStorage.getItem(key);
      return stored && (allowed as readonly string[]).includes(stored) ? (stored as T) : fallback;
    } catch {
      return fallback;
    }
  };
  const [value, setValue] = useState<T>(read);
  const store = useCallback(
    (next: T) => {
      setValue(next);
      try {
        window.localStorage.setItem(key, next);
      } catch {
        // Private mode or a full quota: the choice lasts for this visit only.
      }
    },
    [key],
  );
  return [value, store];
}

/** Money at risk: the size of a card's monthly change, whichever way it goes. */
export function atRisk(card: Card): number {
  return Math.abs(num(card.mrr_change));
}

/** Groups (and the cards in each) with the largest change first. */
export function byMoneyAtRisk(groups: [string, Card[]][]): [string, Card[]][] {
  const total = (cards: Card[]) => cards.reduce((sum, card) => sum + atRisk(card), 0);
  return groups
    .map(([line, cards]) => [line, [...cards].sort((a, b) => atRisk(b) - atRisk(a))] as [string, Card[]])
    .sort(([, a], [, b]) => total(b) - total(a));
}

function typing(target: EventTarget | null): boolean {
  const element = target as HTMLElement | null;
  if (!element) return false;
  return Boolean(element.closest("input, select, textarea, [contenteditable='true'], dialog"));
}

function cardElements(): HTMLElement[] {
  return [...document.querySelectorAll<HTMLElement>(".card-grid article[data-card-id]")];
}

/**
 * Focus the card at `index` (clamped), once the card `leaving` (if any) has left the page: an
 * approved or dismissed card goes on the next render, and its neighbour takes its place.
 */
function focusCardAt(index: number, leaving?: string, frames = 30): void {
  window.requestAnimationFrame(() => {
    const cards = cardElements();
    if (leaving && frames > 0 && cards.some((card) => card.dataset.cardId === leaving)) {
      focusCardAt(index, leaving, frames - 1);
      return;
    }
    const card = cards[Math.max(0, Math.min(index, cards.length - 1))];
    card?.focus();
    card?.scrollIntoView({ block: "nearest" });
  });
}

/**
 * j/k move focus between cards, a approves, d dismisses and Enter opens the details of the
 * focused card: the same handlers as its buttons (undo toast, large-change confirmation).
 */
export function useCardKeyboard(
  cards: Card[],
  handlers: { approve: (card: Card) => void; dismiss: (card: Card) => void; details: (card: Card) => void },
  enabled: boolean,
): void {
  useEffect(() => {
    if (!enabled) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.altKey || event.ctrlKey || event.metaKey || event.defaultPrevented || typing(event.target)) return;
      const elements = cardElements();
      const focused = (document.activeElement as HTMLElement | null)?.closest<HTMLElement>("article[data-card-id]");
      const index = focused ? elements.indexOf(focused) : -1;
      const key = event.key;
      if (key === "j" || key === "k") {
        event.preventDefault();
        // At once, not on the next frame: a quick j j j reads the focus each time.
        const next = elements[Math.max(0, Math.min(index < 0 ? 0 : index + (key === "j" ? 1 : -1), elements.length - 1))];
        next?.focus();
        next?.scrollIntoView({ block: "nearest" });
        return;
      }
      if (index < 0 || !focused || !["a", "d", "Enter"].includes(key)) return;
      // Enter on a button inside the card is that button's own click.
      if (key === "Enter" && document.activeElement !== focused) return;
      const card = cards.find((c) => c.card_id === focused.dataset.cardId);
      if (!card) return;
      event.preventDefault();
      if (key === "Enter") {
        handlers.details(card);
        return;
      }
      if (key === "a") handlers.approve(card);
      else handlers.dismiss(card);
      // The actioned card leaves (unless a large change was not confirmed): the next one
      // takes its place under the focus.
      focusCardAt(index, card.card_id);
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [cards, handlers, enabled]);
}
