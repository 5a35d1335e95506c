// The list view as each user left it (columns, grouping, sort, filters), kept by the gateway
// per user so that it follows them to another browser or device.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, errorMessage } from "./api";
import { useToasts } from "./components/ui";

export type GroupBy = "none" | "account_name" | "service_line" | "contract_name";

/** The document of `/api/v1/me/preferences/list-view` (docs/api.md, "Saved views"). */
export interface ListView {
  group_by: GroupBy;
  hidden_columns: string[];
  column_widths: Record<string, number>;
  sorting: { id: string; desc: boolean }[];
  filters: { id: string; value: string }[];
  show_unchanged: boolean;
  show_actioned: boolean;
}

export const DEFAULT_VIEW: ListView = {
  group_by: "account_name",
  hidden_columns: [],
  column_widths: {},
  sorting: [],
  filters: [],
  show_unchanged: false,
  show_actioned: false,
};

/** The longest filter value the gateway keeps. */
export const FILTER_MAX_LENGTH = 200;

const PATH = "/api/v1/me/preferences/list-view";
/** Typing in a filter or dragging a column edge changes the view many times a second. */
const SAVE_AFTER_MS = 400;

export interface SavedListView {
  view: ListView;
  /** False until the saved view has been read: the grid starts from it, not the default. */
  ready: boolean;
  update: (change: Partial<ListView>) => void;
  reset: () => void;
}

export function useSavedListView(userKey: string): SavedListView {
  const client = useQueryClient();
  const toasts = useToasts();
  const queryKey = useMemo(() => ["preferences", "list-view", userKey], [userKey]);
  const saved = useQuery({
    queryKey,
    staleTime: Infinity,
    retry: false,
    queryFn: ({ signal }) => api.get<ListView>(PATH, signal),
  });
  const [edited, setEdited] = useState<ListView | null>(null);
  // A server that cannot answer still leaves a usable grid: the default view, unsaved.
  const loaded = useMemo(() => (saved.isPending ? null : { ...DEFAULT_VIEW, ...(saved.data ?? {}) }), [saved.isPending, saved.data]);
  const view = edited ?? loaded ?? DEFAULT_VIEW;
  const current = useRef(view);
  current.current = view;

  const pending = useRef<ListView | null>(null);
  const timer = useRef<number | undefined>(undefined);
  const flush = useCallback(() => {
    window.clearTimeout(timer.current);
    const next = pending.current;
    pending.current = null;
    if (!next) return;
    api.put<ListView>(PATH, next).then(
      () => client.setQueryData(queryKey, next),
      (error: unknown) => toasts.push({ message: `Could not save the list view: ${errorMessage(error)}`, tone: "error" }),
    );
  }, [client, queryKey, toasts]);

  // A change made just before leaving the page or the list is still saved.
  useEffect(() => {
    window.addEventListener("pagehide", flush);
    return () => {
      window.removeEventListener("pagehide", flush);
      flush();
    };
  }, [flush]);

  const update = useCallback(
    (change: Partial<ListView>) => {
      const next = { ...current.current, ...change };
      current.current = next;
      setEdited(next);
      pending.current = next;
      window.clearTimeout(timer.current);
      timer.current = window.setTimeout(flush, SAVE_AFTER_MS);
    },
    [flush],
  );

  const reset = useCallback(() => {
    window.clearTimeout(timer.current);
    pending.current = null;
    current.current = DEFAULT_VIEW;
    setEdited(DEFAULT_VIEW);
    api.del<void>(PATH).then(
      () => client.setQueryData(queryKey, DEFAULT_VIEW),
      (error: unknown) => toasts.push({ message: `Could not reset the list view: ${errorMessage(error)}`, tone: "error" }),
    );
  }, [client, queryKey, toasts]);

  return { view, ready: !saved.isPending, update, reset };
}
