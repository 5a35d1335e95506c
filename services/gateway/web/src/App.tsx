import { useQuery, useQueryClient } from "@tanstack/react-query";
import { lazy, Suspense, useCallback, useEffect, useState, type ReactNode } from "react";
import { api, hasSignInCookie, request, setCsrfToken, setSessionLostHandler } from "./api";
import { useCards, useLiveCards } from "./cards";
import { Brand } from "./components/Brand";
import { MoneyParts } from "./components/MoneyParts";
import { Spinner } from "./components/ui";
import { CardsPage } from "./pages/CardsPage";
import { onboardingStarted, startOnboarding, usePsaStatus } from "./onboarding";
import { InvitePage } from "./pages/InvitePage";
import { LoginPage } from "./pages/LoginPage";
import { navigate, usePath } from "./router";
import type { Me, Metrics, Unmapped } from "./types";

// The less-used screens load on demand, so the first paint (cards) stays small.
const ListPage = lazy(() => import("./pages/ListPage"));
const ImportPage = lazy(() => import("./pages/ImportPage"));
const ImportProfilesPage = lazy(() => import("./pages/ImportProfilesPage"));
const MappingPage = lazy(() => import("./pages/MappingPage"));
const ActivityPage = lazy(() => import("./pages/ActivityPage"));
const SettingsPage = lazy(() => import("./pages/SettingsPage"));
const Onboarding = lazy(() => import("./pages/Onboarding"));

export function App() {
  const client = useQueryClient();
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const path = usePath();

  const signedOut = useCallback(() => {
    setCsrfToken(null);
    setMe(null);
    client.clear();
  }, [client]);

  useEffect(() => {
    setSessionLostHandler(signedOut);
    let cancelled = false;
    // Without a sign-in's cookies the answer is a 401: asking would only put a failed
    // request in the console of everyone who opens the sign-in page.
    if (!hasSignInCookie()) {
      setMe(null);
      return;
    }
    request<Me>("/api/v1/auth/me")
      .then((answer) => {
        if (cancelled) return;
        setCsrfToken(answer.csrf_token);
        setMe(answer);
      })
      .catch(() => {
        if (!cancelled) setMe(null);
      });
    return () => {
      cancelled = true;
    };
  }, [signedOut]);

  if (me === undefined) {
    return (
      <div className="boot">
        <Spinner label="Starting TrueUp" />
      </div>
    );
  }
  if (path.startsWith("/invite/")) {
    return (
      <InvitePage
        token={decodeURIComponent(path.slice("/invite/".length))}
        onSignedIn={(answer) => {
          setCsrfToken(answer.csrf_token);
          setMe(answer);
          // A tenant's first admin lands on the setup checklist.
          startOnboarding();
          navigate("/", true);
        }}
      />
    );
  }
  if (me === null) {
    return (
      <LoginPage
        onSignedIn={(answer) => {
          setCsrfToken(answer.csrf_token);
          setMe(answer);
          if (window.location.pathname === "/login") navigate("/", true);
        }}
      />
    );
  }
  return <Shell me={me} onSignOut={signedOut} />;
}

interface NavItem {
  path: string;
  label: string;
  icon: ReactNode;
  badge?: number;
  adminOnly?: boolean;
}

function Icon({ d }: { d: string }) {
  return (
    <svg className="nav-icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      <path d={d} fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" />
    </svg>
  );
}

const ICONS = {
  cards: "M4 5h7v7H4zM13 5h7v7h-7zM4 14h7v5H4zM13 14h7v5h-7z",
  list: "M8 6h12M8 12h12M8 18h12M4 6h.01M4 12h.01M4 18h.01",
  import: "M12 3v12m0 0l-4-4m4 4l4-4M4 17v2a2 2 0 002 2h12a2 2 0 002-2v-2",
  mapping: "M7 7h4M7 17h4M13 7l4 5-4 5M3 7h1M3 17h1",
  activity: "M3 12h4l3-8 4 16 3-8h4",
  settings: "M12 15a3 3 0 100-6 3 3 0 000 6zM19.4 15a1.7 1.7 0 00.3 1.8l.1.1a2 2 0 11-2.8 2.8l-.1-.1a1.7 1.7 0 00-1.8-.3 1.7 1.7 0 00-1 1.5V21a2 2 0 11-4 0v-.1a1.7 1.7 0 00-1.1-1.5 1.7 1.7 0 00-1.8.3l-.1.1a2 2 0 11-2.8-2.8l.1-.1a1.7 1.7 0 00.3-1.8 1.7 1.7 0 00-1.5-1H3a2 2 0 110-4h.1a1.7 1.7 0 001.5-1.1 1.7 1.7 0 00-.3-1.8l-.1-.1a2 2 0 112.8-2.8l.1.1a1.7 1.7 0 001.8.3H9a1.7 1.7 0 001-1.5V3a2 2 0 114 0v.1a1.7 1.7 0 001 1.5 1.7 1.7 0 001.8-.3l.1-.1a2 2 0 112.8 2.8l-.1.1a1.7 1.7 0 00-.3 1.8V9a1.7 1.7 0 001.5 1H21a2 2 0 110 4h-.1a1.7 1.7 0 00-1.5 1z",
};

function Shell({ me, onSignOut }: { me: Me; onSignOut: () => void }) {
  const path = usePath();
  useLiveCards(true);

  const unmapped = useQuery({
    queryKey: ["unmapped"],
    queryFn: ({ signal }) => api.get<Unmapped>("/api/v1/unmapped", signal),
    retry: false,
    refetchInterval: 60_000,
  });
  // The same query as the card view (shared cache): the badge counts what the view shows.
  const cards = useCards({});
  const toReview = (cards.data?.items ?? []).filter(
    (card) => card.kind !== "no_change" && ["pending", "failed", "conflict"].includes(card.state),
  ).length;
  const metrics = useQuery({
    queryKey: ["metrics"],
    queryFn: ({ signal }) => api.get<Metrics>("/api/v1/metrics", signal),
    retry: false,
  });

  // A new tenant (no PSA connection yet) is walked through setup on its first screen; once
  // begun, the checklist stays there until the first cards to review arrive, and then the
  // card view takes its place (the checklist's last step is seeing them).
  const psa = usePsaStatus();
  const first = path === "/";
  const onboarding =
    first && (psa.data?.connections.length === 0 || (onboardingStarted() && toReview === 0));

  const nav: NavItem[] = [
    { path: "/", label: "Cards", icon: <Icon d={ICONS.cards} />, badge: toReview },
    { path: "/list", label: "List", icon: <Icon d={ICONS.list} /> },
    { path: "/import", label: "Import", icon: <Icon d={ICONS.import} /> },
    { path: "/mapping", label: "Mapping", icon: <Icon d={ICONS.mapping} />, badge: unmapped.data?.count },
    { path: "/activity", label: "Activity log", icon: <Icon d={ICONS.activity} /> },
    { path: "/settings", label: "Settings", icon: <Icon d={ICONS.settings} /> },
  ];

  const signOut = () => {
    void api.post("/api/v1/auth/logout").finally(onSignOut);
  };

  const active = (item: NavItem) => (item.path === "/" ? path === "/" || path === "/cards" : path.startsWith(item.path));

  let page: ReactNode;
  if (path.startsWith("/list")) page = <ListPage userKey={`${me.tenant_id}:${me.name}`} />;
  else if (path.startsWith("/import/profiles")) page = <ImportProfilesPage me={me} />;
  else if (path.startsWith("/import")) page = <ImportPage />;
  else if (path.startsWith("/mapping")) page = <MappingPage />;
  else if (path.startsWith("/activity")) page = <ActivityPage />;
  else if (path.startsWith("/settings")) page = <SettingsPage me={me} />;
  else if (onboarding) page = <Onboarding me={me} />;
  else if (first && psa.isPending) page = <Spinner />;
  else page = <CardsPage userKey={`${me.tenant_id}:${me.name}`} />;

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <aside className="sidebar">
        <Brand />
        <nav aria-label="Main">
          <ul>
            {nav.map((item) => (
              <li key={item.path}>
                <a
                  href={item.path}
                  className={active(item) ? "nav-link active" : "nav-link"}
                  aria-current={active(item) ? "page" : undefined}
                  onClick={(event) => {
                    if (event.metaKey || event.ctrlKey || event.shiftKey) return;
                    event.preventDefault();
                    navigate(item.path);
                  }}
                >
                  {item.icon}
                  <span className="nav-label">{item.label}</span>
                  {item.badge ? (
                    <span
                      className={`nav-badge${item.path === "/mapping" ? " nav-badge-warn" : ""}`}
                      aria-label={item.path === "/mapping" ? `${item.badge} unmapped` : `${item.badge} pending`}
                      data-testid={item.path === "/mapping" ? "unmapped-count" : undefined}
                    >
                      {item.badge}
                    </span>
                  ) : null}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        {metrics.data && (
          <div className="sidebar-metrics" aria-label="This cycle">
            <div>
              <span className="muted">MRR change</span>
              <strong data-testid="sidebar-mrr">
                <MoneyParts rows={(metrics.data.by_currency ?? []).map((row) => ({ currency: row.currency, amount: row.mrr_change, cards: row.cards }))} />
              </strong>
            </div>
            <div>
              <span className="muted">Profit / month</span>
              <strong>
                <MoneyParts
                  rows={(metrics.data.by_currency ?? []).map((row) => ({ currency: row.currency, amount: row.mrr_profit_change, cards: row.cards }))}
                />
              </strong>
            </div>
          </div>
        )}
        <div className="sidebar-user">
          <div className="user-avatar" aria-hidden="true">
            {me.name.slice(0, 1).toUpperCase()}
          </div>
          <div className="user-meta">
            <div className="user-name" title={me.name}>
              {me.name}
            </div>
            <div className="muted small">{me.role}</div>
          </div>
          <button type="button" className="icon-button sign-out" aria-label="Sign out" title="Sign out" onClick={signOut}>
            <svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">
              <path
                d="M15 4h3a2 2 0 012 2v12a2 2 0 01-2 2h-3M10 17l-5-5 5-5M5 12h11"
                fill="none"
                stroke="currentColor"
                strokeWidth="1.8"
                strokeLinecap="round"
                strokeLinejoin="round"
              />
            </svg>
          </button>
        </div>
      </aside>
      <main id="main" className="content" tabIndex={-1}>
        <Suspense fallback={<Spinner />}>{page}</Suspense>
      </main>
    </div>
  );
}
