import { useState, type ReactNode } from "react";
import { Modal } from "../ui";

/** A secret or key the API issued: shown here once, never again. */
export default function SecretDialog({ title, secret, children, onClose }: { title: string; secret: string; children?: ReactNode; onClose: () => void }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied(true);
    } catch {
      // No clipboard (an insecure origin): the field is selected for a manual copy instead.
      document.getElementById("issued-secret")?.focus();
    }
  };
  return (
    <Modal
      title={title}
      onClose={onClose}
      footer={
        <button type="button" className="btn btn-primary" onClick={onClose}>
          I have stored it
        </button>
      }
    >
      <div className="banner banner-warning" role="note">
        This is shown once. Copy it now: TrueUp keeps only a sealed copy and cannot show it again.
      </div>
      {children}
      <div className="field">
        <label htmlFor="issued-secret">Secret</label>
        <div className="secret-row">
          <input id="issued-secret" className="mono secret" readOnly value={secret} onFocus={(e) => e.currentTarget.select()} />
          <button type="button" className="btn btn-small" onClick={() => void copy()}>
            {copied ? "Copied" : "Copy"}
          </button>
        </div>
      </div>
    </Modal>
  );
}
