import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { errorMessage, request } from "../api";
import { SignInShell, useSignInForm } from "../components/SignInShell";
import { Spinner } from "../components/ui";
import { when } from "../format";
import type { Me } from "../types";

interface InviteInfo {
  tenant_name: string;
  role: string;
  expires_at: string;
}

/** `/invite/<token>`: the one-time link an operator sends a tenant's first admin. */
export function InvitePage({ token, onSignedIn }: { token: string; onSignedIn: (me: Me) => void }) {
  const path = `/api/v1/auth/invites/${encodeURIComponent(token)}`;
  const invite = useQuery({
    queryKey: ["invite", token],
    queryFn: ({ signal }) => request<InviteInfo>(path, { signal, noRefresh: true }),
    retry: false,
  });
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const { busy, submit, errorBanner } = useSignInForm(
    () =>
      request<Me>(path, {
        method: "POST",
        body: { name: name.trim(), email: email.trim(), password },
        noRefresh: true,
      }),
    onSignedIn,
  );

  return (
    <SignInShell>
      {invite.isPending ? (
        <Spinner label="Opening your invite" />
      ) : invite.error ? (
        <>
          <h1>This link does not work</h1>
          <div className="banner banner-error" role="alert">
            {errorMessage(invite.error)}
          </div>
          <p className="muted">Ask whoever sent it for a new invite, or sign in if you already have an account.</p>
          <a className="btn btn-block" href="/">
            Go to sign-in
          </a>
        </>
      ) : (
        <>
          <h1>Join {invite.data?.tenant_name}</h1>
          <p className="muted">
            You are invited as {invite.data?.role}. Choose how you sign in; this link works once, until {when(invite.data?.expires_at)}.
          </p>
          <form onSubmit={submit} noValidate>
            <div className="field">
              <label htmlFor="invite-name">Your name</label>
              <input id="invite-name" autoComplete="name" required autoFocus value={name} onChange={(e) => setName(e.target.value)} />
            </div>
            <div className="field">
              <label htmlFor="invite-email">Email</label>
              <input id="invite-email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
            </div>
            <div className="field">
              <label htmlFor="invite-password">Password (at least 12 characters)</label>
              <input
                id="invite-password"
                type="password"
                autoComplete="new-password"
                required
                minLength={12}
                value={password}
                onChange={(e) => setPassword(e.target.value)}
              />
            </div>
            {errorBanner}
            <button className="btn btn-primary btn-block" type="submit" disabled={busy || !name.trim() || !email.trim() || password.length < 12}>
              {busy ? "Creating your account…" : "Create account and sign in"}
            </button>
          </form>
        </>
      )}
    </SignInShell>
  );
}
