// The one HTTP client of the app: session cookies, the CSRF header on unsafe methods, a
// single refresh attempt on 401, and RFC 9457 problem details turned into ApiError.

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  instance?: string;
  errors?: { field?: string; location?: string; message?: string; row?: number; column?: string | null; reason?: string; value?: string | null }[];
  [key: string]: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;

  constructor(status: number, problem: Problem) {
    super(problem.detail || problem.title || `Request failed (${status})`);
    this.status = status;
    this.problem = problem;
  }
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
/** Below the 64 KiB browsers allow all keepalive requests of a page together. */
const KEEPALIVE_BYTES = 32_000;

let csrfToken: string | null = null;
let onSessionLost: () => void = () => undefined;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export function setSessionLostHandler(handler: () => void): void {
  onSessionLost = handler;
}

/** The CSRF cookie lives exactly as long as a sign-in (session and refresh cookies alike). */
export function hasSignInCookie(): boolean {
  return cookieCsrf() !== null;
}

function cookieCsrf(): string | null {
  const match = document.cookie.match(/(?:^|;\s*)trueup_csrf=([^;]+)/);
  return match?.[1] ? decodeURIComponent(match[1]) : null;
}

async function readProblem(response: Response): Promise<Problem> {
  const text = await response.text();
  if (!text) return { status: response.status, title: response.statusText };
  try {
    const body = JSON.parse(text) as unknown;
    if (body && typeof body === "object") return body as Problem;
  } catch {
    // Not JSON: a proxy's HTML page, say. Show its status line instead.
  }
  return { status: response.status, title: response.statusText, detail: text.slice(0, 200) };
}

let refreshing: Promise<boolean> | null = null;

async function refreshSession(): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      const response = await fetch("/api/v1/auth/refresh", {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) return false;
      const me = (await response.json()) as { csrf_token?: string | null };
      setCsrfToken(me.csrf_token ?? cookieCsrf());
      return true;
    } catch {
      return false;
    } finally {
      setTimeout(() => {
        refreshing = null;
      }, 0);
    }
  })();
  return refreshing;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  form?: FormData;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Do not try to refresh the session on 401 (login, refresh, me at start). */
  noRefresh?: boolean;
}

export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = (options.method ?? (options.body !== undefined || options.form ? "POST" : "GET")).toUpperCase();
  const send = async (): Promise<Response> => {
    const headers: Record<string, string> = { Accept: "application/json, application/problem+json", ...options.headers };
    let body: BodyInit | undefined;
    if (options.form) {
      body = options.form;
    } else if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    if (UNSAFE.has(method)) {
      const token = csrfToken ?? cookieCsrf();
      if (token) headers["X-CSRF-Token"] = token;
    }
    // keepalive lets an approval whose undo window ends as the tab closes still be sent.
    // Browsers refuse a keepalive body over 64 KiB outright (a bulk approval of thousands
    // of cards): such a request is sent without it rather than not at all.
    const keepalive = UNSAFE.has(method) && !options.form && (typeof body !== "string" || body.length < KEEPALIVE_BYTES);
    return fetch(path, { method, headers, body, credentials: "same-origin", signal: options.signal, keepalive });
  };

  let response = await send();
  if (response.status === 401 && !options.noRefresh) {
    if (await refreshSession()) {
      response = await send();
    }
    if (response.status === 401) {
      onSessionLost();
    }
  }
  if (!response.ok) {
    throw new ApiError(response.status, await readProblem(response));
  }
  if (response.status === 204 || response.headers.get("Content-Length") === "0") {
    return undefined as T;
  }
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const api = {
  get: <T>(path: string, signal?: AbortSignal) => request<T>(path, { signal }),
  post: <T>(path: string, body?: unknown, headers?: Record<string, string>) =>
    request<T>(path, { method: "POST", body: body ?? {}, headers }),
  put: <T>(path: string, body: unknown) => request<T>(path, { method: "PUT", body }),
  patch: <T>(path: string, body: unknown) => request<T>(path, { method: "PATCH", body }),
  del: <T>(path: string) => request<T>(path, { method: "DELETE" }),
  upload: <T>(path: string, form: FormData) => request<T>(path, { method: "POST", form }),
};

/** A user-facing message for any error: the problem's detail when the API sent one. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    const fieldErrors = (error.problem.errors ?? [])
      .map((e) => [e.field ?? e.column, e.message ?? e.reason].filter(Boolean).join(": "))
      .filter(Boolean);
    const base = error.problem.detail || error.problem.title || error.message;
    if (error.status === 404 && !error.problem.detail) return "This part of TrueUp is not available on this server yet.";
    return fieldErrors.length ? `${base} (${fieldErrors.slice(0, 3).join("; ")})` : base;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

export function isNotFound(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404;
}

export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Build a query string, leaving out empty values. */
export function qs(params: Record<string, string | number | boolean | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** The items of a list answer, whether it is a bare array or `{items: [...]}`. */
export function itemsOf<T>(answer: T[] | { items: T[] } | null | undefined): T[] {
  if (!answer) return [];
  return Array.isArray(answer) ? answer : answer.items;
}

export async function getItems<T>(path: string, signal?: AbortSignal): Promise<T[]> {
  return itemsOf(await api.get<T[] | { items: T[] }>(path, signal));
}
