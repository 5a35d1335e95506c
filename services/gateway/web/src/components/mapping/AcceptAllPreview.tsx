import { Modal, VendorTag } from "../ui";
import { keyOf, percent, scoreClass, scoreText, type AcceptPair } from "./scores";

export default function AcceptAllPreview({
  minimum,
  threshold,
  pairs,
  busy,
  onClose,
  onConfirm,
}: {
  minimum: number;
  threshold: number;
  pairs: AcceptPair[];
  busy: boolean;
  onClose: () => void;
  onConfirm: () => void;
}) {
  const below = pairs.filter((p) => percent(p.suggestion.score) < threshold).length;
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
            Map {pairs.length} vendor account{pairs.length === 1 ? "" : "s"}
          </button>
        </>
      }
    >
      <p>
        {pairs.length} vendor account{pairs.length === 1 ? "" : "s"} will be mapped to the PSA account shown. Check the pairs: a
        wrong one bills the wrong client.
      </p>
      {below > 0 && (
        <div className="banner banner-error" role="alert">
          {below} of these {below === 1 ? "is" : "are"} below your threshold of {threshold}%: the names only look alike. Lower the
          minimum only after reading every pair.
        </div>
      )}
      <div className="table-wrap">
        <table className="grid" data-testid="accept-all-preview">
          <caption className="visually-hidden">Vendor accounts and the PSA accounts they will be mapped to</caption>
          <thead>
            <tr>
              <th scope="col">Vendor account</th>
              <th scope="col">PSA account</th>
              <th scope="col" className="num">
                Score
              </th>
              <th scope="col">Why</th>
            </tr>
          </thead>
          <tbody>
            {pairs.map(({ mapping: m, suggestion: s }) => (
              <tr key={keyOf(m)}>
                <td>
                  <VendorTag vendor={m.vendor} /> {m.vendor_account_name}
                </td>
                <td>→ {s.account_name}</td>
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
