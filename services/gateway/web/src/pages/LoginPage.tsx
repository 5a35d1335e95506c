import { useState } from "react";
import { request } from "../api";
import { SignInShell, useSignInForm } from "../components/SignInShell";
import type { Me } from "../types";

export function LoginPage({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const { busy, submit, errorBanner } = useSignInForm(
    () =>
      request<Me>("/api/v1/auth/login", {
        method: "POST",
        body: { email: email.trim(), password },
        noRefresh: true,
      }),
    onSignedIn,
  );

  return (
    <SignInShell aside={<LoginAside />}>
      <h1>Sign in</h1>
      <p className="muted">Reconcile this month's recurring billing in minutes.</p>
      <form onSubmit={submit} noValidate>
        <div className="field">
          <label htmlFor="login-email">Email</label>
          <input
            id="login-email"
            type="email"
            autoComplete="username"
            required
            autoFocus
            value={email}
            onChange={(event) => setEmail(event.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="login-password">Password</label>
          <input
            id="login-password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(event) => setPassword(event.target.value)}
          />
        </div>
        {errorBanner}
        <button className="btn btn-primary btn-block" type="submit" disabled={busy || !email || !password}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </SignInShell>
  );
}

function LoginAside() {
  return (
    <aside className="login-aside" aria-hidden="true">
      <div className="login-quote">
        <div className="login-stat">PSA ⇄ vendors</div>
        <div>Every difference between what you bill and what your vendors count, one click from fixed.</div>
        <div className="login-mini-cards">
          <div className="mini-card">
            <span>Microsoft 365 Business Premium</span>
            <b>25 → 27</b>
          </div>
          <div className="mini-card">
            <span>Managed Workstations</span>
            <b>41 → 44</b>
          </div>
          <div className="mini-card">
            <span>Huntress EDR</span>
            <b>60 → 58</b>
          </div>
        </div>
      </div>
    </aside>
  );
}
