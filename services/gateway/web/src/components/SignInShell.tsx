import { useState, type FormEvent, type ReactNode } from "react";
import { errorMessage } from "../api";
import type { Me } from "../types";
import { Brand } from "./Brand";

/** The frame of every page a person sees before signing in: the brand, then the form. */
export function SignInShell({ children, aside }: { children: ReactNode; aside?: ReactNode }) {
  return (
    <main className="login">
      <div className="login-panel">
        <Brand large />
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
