import { useState } from "react";
import { useDropzone } from "react-dropzone";
import { Spinner } from "../ui";

const KNOWN_VENDORS = ["pax8", "microsoft", "ninjaone", "datto", "huntress", "sentinelone", "other"];
const MAX_BYTES = 200 * 1024 * 1024;

export default function UploadStep({
  vendor,
  setVendor,
  busy,
  file,
  onFile,
}: {
  vendor: string;
  setVendor: (value: string) => void;
  busy: boolean;
  file: File | null;
  onFile: (file: File) => void;
}) {
  const [rejected, setRejected] = useState<string | null>(null);
  const { getRootProps, getInputProps, isDragActive, open } = useDropzone({
    multiple: false,
    maxSize: MAX_BYTES,
    noClick: true,
    accept: { "text/csv": [".csv"], "text/tab-separated-values": [".tsv"], "text/plain": [".txt"] },
    onDropAccepted: (files) => {
      setRejected(null);
      const first = files[0];
      if (first) onFile(first);
    },
    onDropRejected: (rejections) => {
      setRejected(rejections[0]?.errors[0]?.message ?? "This file cannot be imported.");
    },
  });
  return (
    <div className="upload-step">
      <div className="field field-inline">
        <label htmlFor="import-vendor">Vendor</label>
        <input
          id="import-vendor"
          list="vendor-options"
          value={vendor}
          placeholder="e.g. pax8"
          onChange={(event) => setVendor(event.target.value.trim().toLowerCase())}
        />
        <datalist id="vendor-options">
          {KNOWN_VENDORS.map((v) => (
            <option key={v} value={v} />
          ))}
        </datalist>
        <div className="hint">Imported service lines are tagged with this vendor. A saved profile for its header is used automatically.</div>
      </div>
      <div {...getRootProps({ className: `dropzone${isDragActive ? " dropzone-active" : ""}` })}>
        <input {...getInputProps({ "aria-label": "Usage file" })} data-testid="import-file" />
        <div className="dropzone-icon" aria-hidden="true">
          ⇪
        </div>
        {busy ? (
          <Spinner label={`Reading ${file?.name ?? "the file"}`} />
        ) : (
          <>
            <p className="dropzone-title">{isDragActive ? "Drop the file to read it" : "Drag a CSV or TSV export here"}</p>
            <p className="muted small">UTF-8, UTF-16 or Windows-1252; comma, semicolon, tab or pipe; up to 200 MB.</p>
            <button type="button" className="btn btn-primary" onClick={open}>
              Choose a file
            </button>
          </>
        )}
      </div>
      {rejected && (
        <div className="banner banner-error" role="alert">
          {rejected}
        </div>
      )}
    </div>
  );
}
