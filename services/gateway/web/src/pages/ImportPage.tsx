import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ApiError, api } from "../api";
import MappingStep from "../components/import/MappingStep";
import { EMPTY_MAPPING, cleanMapping, type Settings } from "../components/import/mapping";
import ProgressStep from "../components/import/ProgressStep";
import ReviewStep from "../components/import/ReviewStep";
import SettingsStep from "../components/import/SettingsStep";
import UploadStep from "../components/import/UploadStep";
import { ErrorBanner, PageHeader } from "../components/ui";
import { navigate } from "../router";
import type { ColumnMapping, ImportInspection, ImportView, RowError } from "../types";

const STEPS = ["Upload", "Settings", "Columns", "Review", "Import", "Changes"] as const;

export default function ImportPage() {
  const client = useQueryClient();
  const [step, setStep] = useState(0);
  const [file, setFile] = useState<File | null>(null);
  const [vendor, setVendor] = useState("");
  const [inspection, setInspection] = useState<ImportInspection | null>(null);
  const [settings, setSettings] = useState<Settings | null>(null);
  const [mapping, setMapping] = useState<ColumnMapping>(EMPTY_MAPPING);
  const [profileName, setProfileName] = useState("");
  const [skipInvalid, setSkipInvalid] = useState(false);
  const [rowErrors, setRowErrors] = useState<RowError[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [committedId, setCommittedId] = useState<string | null>(null);

  const upload = async (chosen: File, overrides?: Settings) => {
    setBusy(true);
    setError(null);
    try {
      const form = new FormData();
      form.append("file", chosen, chosen.name);
      if (vendor) form.append("vendor", vendor);
      if (overrides) {
        for (const [key, value] of Object.entries(overrides)) form.append(key, String(value));
      }
      const answer = await api.upload<ImportView>("/api/v1/imports", form);
      if (!answer.detection || !answer.preview) throw new Error(answer.error ?? "The file could not be read.");
      const result = answer as ImportInspection;
      setInspection(result);
      setSettings({
        encoding: result.detection.encoding,
        delimiter: result.detection.delimiter,
        header_row: result.detection.header_row,
        decimal_separator: result.detection.decimal_separator,
        thousands_separator: result.detection.thousands_separator,
      });
      if (result.vendor && !vendor) setVendor(result.vendor);
      const suggested = result.profile?.mapping ?? result.suggestion?.mapping ?? null;
      setMapping({ ...EMPTY_MAPPING, ...(suggested ?? {}), filters: suggested?.filters ?? [] });
      if (result.profile) setProfileName(result.profile.name);
      else if (!profileName) setProfileName(`${vendor || result.vendor || "vendor"} usage`);
      setRowErrors(null);
      setStep(overrides ? 2 : 1);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  const commit = async () => {
    if (!inspection) return;
    setBusy(true);
    setError(null);
    try {
      const id = inspection.import_id;
      await api.post(`/api/v1/imports/${encodeURIComponent(id)}/commit`, {
        mapping: cleanMapping(mapping),
        vendor: vendor || undefined,
        save_profile_as: profileName.trim() || undefined,
        skip_invalid_rows: skipInvalid,
      });
      setCommittedId(id);
      setStep(4);
    } catch (caught) {
      if (caught instanceof ApiError && caught.status === 422 && Array.isArray(caught.problem.errors)) {
        const errors = (caught.problem.errors as RowError[]).filter((e) => typeof e.row === "number");
        if (errors.length) {
          setRowErrors(errors);
          setError(caught);
          return;
        }
      }
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  const reset = () => {
    setStep(0);
    setFile(null);
    setInspection(null);
    setSettings(null);
    setMapping(EMPTY_MAPPING);
    setRowErrors(null);
    setError(null);
    setCommittedId(null);
    setSkipInvalid(false);
    void client.invalidateQueries({ queryKey: ["cards"] });
  };

  return (
    <div className="page">
      <PageHeader
        title="Import vendor usage"
        subtitle="Drop a vendor's usage or billing export. TrueUp detects its format, you check the columns, and the cards update."
        actions={
          <>
            {step > 0 && step < 4 && (
              <button type="button" className="btn btn-ghost" onClick={reset}>
                Start over
              </button>
            )}
            <a
              className="btn"
              href="/import/profiles"
              onClick={(event) => {
                if (event.metaKey || event.ctrlKey || event.shiftKey) return;
                event.preventDefault();
                navigate("/import/profiles");
              }}
            >
              Import profiles
            </a>
          </>
        }
      />
      <ol className="stepper" aria-label="Import steps">
        {STEPS.map((label, index) => (
          <li key={label} className={index === step ? "current" : index < step ? "done" : ""} aria-current={index === step ? "step" : undefined}>
            <span className="step-no" aria-hidden="true">
              {index < step ? "✓" : index + 1}
            </span>
            <span>{label}</span>
          </li>
        ))}
      </ol>

      {error && !rowErrors ? <ErrorBanner error={error} /> : null}

      <div className="panel">
        {step === 0 && (
          <UploadStep
            vendor={vendor}
            setVendor={setVendor}
            busy={busy}
            file={file}
            onFile={(chosen) => {
              setFile(chosen);
              void upload(chosen);
            }}
          />
        )}
        {step === 1 && inspection && settings && (
          <SettingsStep
            inspection={inspection}
            settings={settings}
            setSettings={setSettings}
            busy={busy}
            onBack={() => setStep(0)}
            onNext={(changed) => {
              if (changed && file) void upload(file, settings);
              else setStep(2);
            }}
          />
        )}
        {step === 2 && inspection && (
          <MappingStep inspection={inspection} mapping={mapping} setMapping={setMapping} onBack={() => setStep(1)} onNext={() => setStep(3)} />
        )}
        {step === 3 && inspection && (
          <ReviewStep
            inspection={inspection}
            mapping={mapping}
            vendor={vendor}
            profileName={profileName}
            setProfileName={setProfileName}
            skipInvalid={skipInvalid}
            setSkipInvalid={setSkipInvalid}
            rowErrors={rowErrors}
            error={rowErrors ? error : null}
            busy={busy}
            onBack={() => setStep(2)}
            onCommit={() => void commit()}
          />
        )}
        {step >= 4 && committedId && (
          <ProgressStep
            id={committedId}
            vendor={vendor}
            showChanges={step === 5}
            onFinished={() => setStep(5)}
            onAnother={reset}
          />
        )}
      </div>
    </div>
  );
}
