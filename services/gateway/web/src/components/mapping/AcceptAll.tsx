import { useState, type ReactNode } from "react";
import { Modal } from "../ui";
import { acceptMinimum, acceptablePairs, capitalised, counted, percent, scoreClass, scoreText, type AcceptPair } from "./scores";

/** What the rows of one mapping tab are, in the words its preview uses. */
export interface AcceptAllSubject<R, S> {
  /** What is mapped ("vendor account", "vendor accounts"), and to what ("PSA account"),
   * as a sentence says them; the preview's headings are the same words. */
  one: string;
  many: string;
  to: string;
  /** Why the pairs deserve a look ("a wrong one bills the wrong client"). */
  risk: string;
  keyOf: (row: R) => string;
  source: (row: R) => ReactNode;
  target: (suggestion: S) => string;
}

/**
 * "Minimum score" and "Accept all ≥ N%…": the best suggestion of every row still waiting,
 * from N up, previewed pair by pair before anything is mapped. N starts at the tenant's
 * threshold, so nothing below it is in the preview unless a person lowers N, and then the
 * preview says how many pairs only look alike.
 */
export default function AcceptAll<R extends { suggestions?: S[] }, S extends { score: string | number; reason: string }>({
  id,
  rows,
  waits,
  threshold,
  subject,
  busy,
  onAccept,
}: {
  id: string;
  rows: R[];
  waits: (row: R) => boolean;
  threshold: number;
  subject: AcceptAllSubject<R, S>;
  busy: boolean;
  /** Maps the pairs; the preview closes once it resolves and stays open when it fails. */
  onAccept: (pairs: AcceptPair<R, S>[]) => Promise<unknown>;
}) {
  const [typed, setTyped] = useState<string | null>(null);
  const [preview, setPreview] = useState<{ minimum: number; pairs: AcceptPair<R, S>[] } | null>(null);
  const minimum = acceptMinimum(typed, threshold);
  const acceptable: AcceptPair<R, S>[] = acceptablePairs(rows, minimum, waits);

  return (
    <>
      <label className="small" htmlFor={id}>
        Minimum score
      </label>
      <input
        id={id}
        className="input-narrow"
        type="number"
        min={0}
        max={100}
        step={1}
        value={typed ?? String(threshold)}
        aria-invalid={minimum === null}
        onChange={(e) => setTyped(e.target.value)}
      />
      <button
        type="button"
        className="btn btn-small"
        disabled={minimum === null || !acceptable.length || busy}
        title={minimum === null ? "Enter a score from 0 to 100" : `Preview the ${acceptable.length} pair(s) before mapping them`}
        onClick={() => minimum !== null && setPreview({ minimum, pairs: acceptable })}
      >
        Accept all ≥ {minimum ?? "?"}%…
      </button>
      {preview && (
        <AcceptAllPreview
          minimum={preview.minimum}
          threshold={threshold}
          pairs={preview.pairs}
          subject={subject}
          busy={busy}
          onClose={() => setPreview(null)}
          onConfirm={() =>
            void onAccept(preview.pairs).then(
              () => setPreview(null),
              // The tab's own error toast says what went wrong; the pairs stay to retry.
              () => undefined,
            )
          }
        />
      )}
    </>
  );
}

export function AcceptAllPreview<R, S extends { score: string | number; reason: string }>({
  minimum,
  threshold,
  pairs,
  subject,
  busy,
  onClose,
  onConfirm,
}: {
  minimum: number;
  threshold: number;
  pairs: AcceptPair<R, S>[];
  subject: AcceptAllSubject<R, S>;
  busy: boolean;
  onClose: () => void;
  onConfirm: () => void;
}) {
  const below = pairs.filter((p) => percent(p.suggestion.score) < threshold).length;
  const what = counted(pairs.length, subject.one, subject.many);
  return (
    <Modal
      wide
      title={`Accept all suggestions ≥ ${minimum}%`}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="button" className="btn btn-primary" disabled={busy || !pairs.length} onClick={onConfirm}>
            Map {what}
          </button>
        </>
      }
    >
      <p>
        {what} will be mapped to the {subject.to} shown. Check the pairs: {subject.risk}
      </p>
      {below > 0 && (
        <div className="banner banner-error" role="alert">
          {below} of these {below === 1 ? "is" : "are"} below your threshold of {threshold}%: the names only look alike. Lower the
          minimum only after reading every pair.
        </div>
      )}
      <div className="table-wrap">
        <table className="grid" data-testid="accept-all-preview">
          <caption className="visually-hidden">
            {capitalised(subject.many)} and the {subject.to}s they will be mapped to
          </caption>
          <thead>
            <tr>
              <th scope="col">{capitalised(subject.one)}</th>
              <th scope="col">{capitalised(subject.to)}</th>
              <th scope="col" className="num">
                Score
              </th>
              <th scope="col">Why</th>
            </tr>
          </thead>
          <tbody>
            {pairs.map(({ mapping: m, suggestion: s }) => (
              <tr key={subject.keyOf(m)}>
                <td>{subject.source(m)}</td>
                <td>→ {subject.target(s)}</td>
                <td className="num">
                  <span className={`score ${scoreClass(s.score, threshold)}`}>{scoreText(s.score)}</span>
                </td>
                <td className="muted small">{s.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Modal>
  );
}
