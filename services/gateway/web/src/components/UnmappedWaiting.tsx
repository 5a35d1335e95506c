import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { navigate } from "../router";
import type { ImportUsage, Unmapped } from "../types";
import { EmptyState } from "./ui";

const plural = (n: number, word: string) => `${n} unmapped ${word}${n === 1 ? "" : "s"}`;

/**
 * What an import left waiting when it made no card: its vendor accounts and SKUs that have
 * no mapping yet. "No differences" would be wrong there: nothing was compared.
 */
export function ImportResultEmpty({ vendor, usage }: { vendor: string; usage: ImportUsage[] }) {
  const unmapped = useQuery({
    queryKey: ["unmapped"],
    queryFn: ({ signal }) => api.get<Unmapped>("/api/v1/unmapped", signal),
    retry: false,
  });
  const ofThisFile = (v: string) => !vendor || v.toLowerCase() === vendor.toLowerCase();
  const accountIds = new Set(usage.map((u) => u.vendor_account_id));
  const skus = new Set(usage.map((u) => u.sku));
  const accounts = (unmapped.data?.accounts ?? []).filter((a) => ofThisFile(a.vendor) && accountIds.has(a.key)).length;
  const products = (unmapped.data?.skus ?? []).filter((s) => ofThisFile(s.vendor) && skus.has(s.key)).length;

  if (accounts + products === 0) {
    return (
      <EmptyState title="No differences" icon="✓">
        The imported usage matches what your PSA contracts bill.
      </EmptyState>
    );
  }
  const waiting = [accounts && plural(accounts, "account"), products && plural(products, "SKU")].filter(Boolean).join(" and ");
  return (
    <EmptyState
      title={`${waiting} waiting`}
      icon="⋯"
      actions={
        <button type="button" className="btn btn-primary" onClick={() => navigate("/mapping")}>
          Map them on the Mapping page
        </button>
      }
    >
      <span data-testid="import-unmapped">
        This file's usage is not compared with your PSA contracts until its {waiting} {accounts + products === 1 ? "is" : "are"}{" "}
        mapped. Cards appear as soon as they are.
      </span>
    </EmptyState>
  );
}
