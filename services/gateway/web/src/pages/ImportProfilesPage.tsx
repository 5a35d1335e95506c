import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, errorMessage } from "../api";
import { RemoveUsageDialog } from "../components/RemoveUsageDialog";
import { EmptyState, ErrorBanner, Modal, PageHeader, Spinner, VendorTag, useToasts } from "../components/ui";
import { ago, when } from "../format";
import { navigate } from "../router";
import type { ImportProfile, Me } from "../types";

const PROFILES_KEY = ["import-profiles"];

function goTo(path: string) {
  return (event: React.MouseEvent<HTMLAnchorElement>) => {
    if (event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    navigate(path);
  };
}

export default function ImportProfilesPage({ me }: { me: Me }) {
  const canChange = me.role === "admin";
  const profiles = useQuery({
    queryKey: PROFILES_KEY,
    queryFn: ({ signal }) => api.get<{ items: ImportProfile[] }>("/api/v1/import-profiles", signal),
    retry: false,
    // Imports save profiles elsewhere (the wizard, the API): read them afresh on each visit.
    staleTime: 0,
  });
  const [renaming, setRenaming] = useState<ImportProfile | null>(null);
  const [deleting, setDeleting] = useState<ImportProfile | null>(null);
  const [removing, setRemoving] = useState<{ vendor?: string } | null>(null);
  const items = profiles.data?.items ?? [];
  const vendors = [...new Set(items.map((p) => p.vendor))].sort();

  return (
    <div className="page">
      <PageHeader
        title="Import profiles"
        subtitle="Saved column mappings: a file with a profile's header is imported with its mapping."
        actions={
          <>
            <a className="btn btn-ghost" href="/import" onClick={goTo("/import")}>
              ← Import a file
            </a>
            {canChange && (
              <button type="button" className="btn" onClick={() => setRemoving({})}>
                Remove usage…
              </button>
            )}
          </>
        }
      />
      {profiles.isLoading && <Spinner label="Loading profiles" />}
      <ErrorBanner error={profiles.error} onRetry={() => void profiles.refetch()} />
      {profiles.data && items.length === 0 && (
        <EmptyState
          icon="⇪"
          title="No import profiles yet"
          actions={
            <a className="btn btn-primary" href="/import" onClick={goTo("/import")}>
              Import a file
            </a>
          }
        >
          When you import a vendor's file, the Review step offers to <strong>save the mapping as a profile</strong>. The next file
          with the same header columns (in any order) is recognised and imported with it. Profiles appear here, where admins can
          rename or delete them.
        </EmptyState>
      )}
      {items.length > 0 && (
        <div className="panel table-wrap">
          <table className="grid" data-testid="import-profiles">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Vendor</th>
                <th scope="col">Matches files with the columns</th>
                <th scope="col" className="num">
                  Imports
                </th>
                <th scope="col">Last used</th>
                {canChange && (
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {items.map((profile) => (
                <tr key={profile.profile_id}>
                  <td>
                    <strong>{profile.name}</strong>
                  </td>
                  <td>
                    <VendorTag vendor={profile.vendor} />
                  </td>
                  <td className="profile-columns">
                    {profile.header_columns.length ? (
                      profile.header_columns.map((column) => (
                        <span key={column} className="tag">
                          {column}
                        </span>
                      ))
                    ) : (
                      <span className="muted small">Saved before columns were kept; shown after its next import.</span>
                    )}
                  </td>
                  <td className="num">{profile.imports}</td>
                  <td className="nowrap" title={profile.last_used_at ? when(profile.last_used_at) : undefined}>
                    {profile.last_used_at ? ago(profile.last_used_at) : <span className="muted">Never</span>}
                  </td>
                  {canChange && (
                    <td className="nowrap">
                      <button type="button" className="btn btn-small" onClick={() => setRenaming(profile)} aria-label={`Rename ${profile.name}`}>
                        Rename
                      </button>{" "}
                      <button type="button" className="btn btn-small" onClick={() => setRemoving({ vendor: profile.vendor })} aria-label={`Remove ${profile.vendor} usage`}>
                        Remove usage…
                      </button>{" "}
                      <button type="button" className="btn btn-small btn-ghost" onClick={() => setDeleting(profile)} aria-label={`Delete ${profile.name}`}>
                        Delete
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {!canChange && items.length > 0 && <p className="muted small">Only admins can rename or delete profiles and remove usage.</p>}
      {renaming && <RenameDialog profile={renaming} onClose={() => setRenaming(null)} />}
      {deleting && <DeleteDialog profile={deleting} onClose={() => setDeleting(null)} />}
      {removing && <RemoveUsageDialog vendors={vendors} initialVendor={removing.vendor} onClose={() => setRemoving(null)} />}
    </div>
  );
}

function RenameDialog({ profile, onClose }: { profile: ImportProfile; onClose: () => void }) {
  const client = useQueryClient();
  const toasts = useToasts();
  const [name, setName] = useState(profile.name);
  const rename = useMutation({
    mutationFn: () => api.patch<ImportProfile>(`/api/v1/import-profiles/${encodeURIComponent(profile.profile_id)}`, { name: name.trim() }),
    onSuccess: (saved) => {
      toasts.push({ message: `Renamed to ${saved.name}`, tone: "success" });
      void client.invalidateQueries({ queryKey: PROFILES_KEY });
      onClose();
    },
  });
  return (
    <Modal
      title={`Rename ${profile.name}`}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn btn-ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" form="rename-profile" className="btn btn-primary" disabled={rename.isPending || !name.trim()}>
            Rename
          </button>
        </>
      }
    >
      <form
        id="rename-profile"
        onSubmit={(event) => {
          event.preventDefault();
          rename.mutate();
        }}
      >
        <div className="field">
          <label htmlFor="profile-name">Name</label>
          <input id="profile-name" autoFocus maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />
        </div>
      </form>
      {rename.error && <ErrorBanner error={rename.error} />}
    </Modal>
  );
}

function DeleteDialog({ profile, onClose }: { profile: ImportProfile; onClose: () => void }) {
  const client = useQueryClient();
  const toasts = useToasts();
  const remove = useMutation({
    mutationFn: () => api.del<void>(`/api/v1/import-profiles/${encodeURIComponent(profile.profile_id)}`),
    onSuccess: () => {
      toasts.push({ message: `Deleted ${profile.name}`, tone: "success" });
      void client.invalidateQueries({ queryKey: PROFILES_KEY });
      onClose();
    },
    onError: (error) => toasts.push({ message: errorMessage(error), tone: "error" }),
  });
  return (
    <Modal
      title={`Delete ${profile.name}?`}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn btn-ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="button" className="btn btn-danger" disabled={remove.isPending} onClick={() => remove.mutate()}>
            Delete profile
          </button>
        </>
      }
    >
      <p>
        {profile.vendor} files with this header will no longer be recognised: the next one asks for its columns again. The{" "}
        {profile.imports} import{profile.imports === 1 ? "" : "s"} made with it, and their usage, stay.
      </p>
    </Modal>
  );
}
