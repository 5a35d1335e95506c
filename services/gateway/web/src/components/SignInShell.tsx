import { useState, type FormEvent, type ReactNode } from "react";
import { errorMessage } from "../api";
import type { Me } from "../types";

/** The frame of every page a person sees before signing in: the brand, then the form. */
export function SignInShell({ children, aside }: { children: ReactNode; aside?: ReactNode }) {
  return (
    <main className="login">
      <div className="login-panel">
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden="true">
            <svg viewBox="0 0 32 32">
              <path d="M9 17l5 5 9-11" stroke="white" strokeWidth="3.5" fill="none" strokeLinecap="round" strokeLinejoin="round" />
            </svg>
          </span>
          <span className="brand-name">TrueUp</span>
        </div>
        {children}
      </div>
      {aside}
    </main>
  );
}

/** A form that ends in a session: busy while it is sent, the server's reason when refused. */
export function useSignInForm(send: () => Promise<Me>, onSignedIn: (me: Me) => void) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await send());
    } catch (caught) {
      setError(errorMessage(caught));
    } finally {
      setBusy(false);
    }
  };
  const errorBanner = error && (
    <div className="banner banner-error" role="alert">
      {error}
    </div>
  );
  return { busy, submit, errorBanner };
}
