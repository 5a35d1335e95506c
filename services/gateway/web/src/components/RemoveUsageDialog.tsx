import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ApiError, api, qs } from "../api";
import { day, num } from "../format";
import type { ImportSummary, UsageRemoval } from "../types";
import { ErrorBanner, Modal, Spinner, useToasts } from "./ui";

type Source = { kind: "vendor"; vendor: string } | { kind: "import"; importId: string };

function plural(count: number, word: string): string {
  return `${num(count).toLocaleString()} ${word}${count === 1 ? "" : "s"}`;
}

function bodyOf(source: Source): Record<string, string> {
  return source.kind === "vendor" ? { vendor: source.vendor } : { import_id: source.importId };
}

/**
 * Remove a vendor's usage, or one import's: pick it, see what a dry run counts, confirm.
 * The confirmation sends the count shown, so usage that changed meanwhile is refused
 * rather than removed unseen.
 */
export function RemoveUsageDialog({ vendors, initialVendor, onClose }: { vendors: string[]; initialVendor?: string; onClose: () => void }) {
  const client = useQueryClient();
  const toasts = useToasts();
  const [kind, setKind] = useState<"vendor" | "import">(initialVendor ? "vendor" : "import");
  const [vendor, setVendor] = useState(initialVendor ?? vendors[0] ?? "");
  const [importId, setImportId] = useState("");
  const [preview, setPreview] = useState<UsageRemoval | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const imports = useQuery({
    queryKey: ["imports-with-usage"],
    queryFn: ({ signal }) => api.get<{ items: ImportSummary[] }>(`/api/v1/imports${qs({ limit: 100 })}`, signal),
    retry: false,
    staleTime: 0,
  });
  const withUsage = (imports.data?.items ?? []).filter((item) => item.records > 0);
  const chosenImport = importId || withUsage[0]?.import_id || "";
  const source: Source | null =
    kind === "vendor" ? (vendor.trim() ? { kind, vendor: vendor.trim() } : null) : chosenImport ? { kind, importId: chosenImport } : null;

  const changeSource = (update: () => void) => {
    update();
    setPreview(null);
    setError(null);
  };

  const dryRun = async () => {
    if (!source) return;
    setBusy(true);
    setError(null);
    try {
      setPreview(await api.post<UsageRemoval>("/api/v1/usage/removals", { ...bodyOf(source), dry_run: true }));
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    if (!source || !preview) return;
    setBusy(true);
    setError(null);
    try {
      const done = await api.post<UsageRemoval>("/api/v1/usage/removals", {
        ...bodyOf(source),
        dry_run: false,
        expected_records: preview.records,
      });
      toasts.push({
        message: `Removed ${plural(done.records, "usage record")}; ${plural(done.cards, "card")} recomputed`,
        tone: "success",
      });
      for (const key of ["cards", "imports-with-usage", "import-profiles", "unmapped", "metrics"]) {
        void client.invalidateQueries({ queryKey: [key] });
      }
      onClose();
    } catch (caught) {
      // The usage changed since the preview: show the new counts instead of removing them.
      if (caught instanceof ApiError && caught.status === 409) setPreview(null);
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  const what = preview ? (preview.label ? `import ${preview.label} (${preview.vendor})` : `all ${preview.vendor} usage`) : "";

  return (
    <Modal
      title="Remove usage"
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn btn-ghost" onClick={onClose}>
            Cancel
          </button>
          {preview && preview.records > 0 ? (
            <button type="button" className="btn btn-danger" disabled={busy} onClick={() => void remove()}>
              Remove {plural(preview.records, "record")}
            </button>
          ) : (
            <button type="button" className="btn btn-primary" disabled={busy || !source} onClick={() => void dryRun()}>
              Preview
            </button>
          )}
        </>
      }
    >
      <p className="muted small">
        Takes usage out of TrueUp again, for example a test file or a file imported under the wrong vendor. The cards it fed are
        recomputed, and the activity log records the removal.
      </p>
      <fieldset className="field">
        <legend>What to remove</legend>
        <label className="radio">
          <input type="radio" name="remove-kind" checked={kind === "import"} onChange={() => changeSource(() => setKind("import"))} />
          <span>The usage of one import</span>
        </label>
        <label className="radio">
          <input type="radio" name="remove-kind" checked={kind === "vendor"} onChange={() => changeSource(() => setKind("vendor"))} />
          <span>All usage of a vendor (imports, webhooks and connectors)</span>
        </label>
      </fieldset>
      {kind === "import" ? (
        <div className="field">
          <label htmlFor="remove-import">Import</label>
          {imports.isLoading ? (
            <Spinner label="Loading imports" />
          ) : withUsage.length ? (
            <select id="remove-import" value={chosenImport} onChange={(e) => changeSource(() => setImportId(e.target.value))}>
              {withUsage.map((item) => (
                <option key={item.import_id} value={item.import_id}>
                  {item.file_name} · {item.vendor} · {day(item.created_at)} · {plural(item.records, "record")}
                </option>
              ))}
            </select>
          ) : (
            <p className="muted small">No import has usage left to remove.</p>
          )}
        </div>
      ) : (
        <div className="field">
          <label htmlFor="remove-vendor">Vendor</label>
          <input id="remove-vendor" list="remove-vendors" value={vendor} onChange={(e) => changeSource(() => setVendor(e.target.value))} />
          <datalist id="remove-vendors">
            {vendors.map((v) => (
              <option key={v} value={v} />
            ))}
          </datalist>
        </div>
      )}
      {preview && (
        <div className={preview.records ? "banner banner-warning" : "banner banner-info"} data-testid="removal-preview">
          {preview.records ? (
            <span>
              Removing {what} deletes <strong>{plural(preview.records, "usage record")}</strong> of{" "}
              <strong>{plural(preview.vendor_accounts, "vendor account")}</strong> and recomputes{" "}
              <strong>{plural(preview.cards, "card")}</strong>. This cannot be undone; import the file again to bring it back.
            </span>
          ) : (
            <span>There is no stored usage of {what} to remove.</span>
          )}
        </div>
      )}
      {error ? <ErrorBanner error={error} /> : null}
      {error instanceof ApiError && error.status === 409 && <p className="muted small">Preview again to see the current counts.</p>}
    </Modal>
  );
}
