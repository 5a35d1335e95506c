import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import AccountsTab from "../components/mapping/AccountsTab";
import ServicesTab from "../components/mapping/ServicesTab";
import { PageHeader } from "../components/ui";
import { navigate, useSearch } from "../router";
import type { Unmapped } from "../types";

type Tab = "accounts" | "services";

export default function MappingPage() {
  const search = useSearch();
  const tab: Tab = search.get("tab") === "services" ? "services" : "accounts";
  // The sidebar's query (shared cache): the badge there is the sum of these two.
  const unmapped = useQuery({
    queryKey: ["unmapped"],
    queryFn: ({ signal }) => api.get<Unmapped>("/api/v1/unmapped", signal),
    retry: false,
  });
  const waiting: Record<Tab, number> = {
    accounts: unmapped.data?.accounts.length ?? 0,
    services: unmapped.data?.skus.length ?? 0,
  };
  return (
    <div className="page">
      <PageHeader
        title="Mapping"
        subtitle="Tie each vendor account to a PSA account, and each vendor SKU to the service line it bills."
      />
      <div className="tabs" role="tablist" aria-label="Mapping">
        {(["accounts", "services"] as const).map((value) => (
          <button
            key={value}
            type="button"
            role="tab"
            id={`tab-${value}`}
            aria-selected={tab === value}
            aria-controls={`panel-${value}`}
            className={tab === value ? "tab active" : "tab"}
            onClick={() => navigate(value === "accounts" ? "/mapping" : "/mapping?tab=services")}
          >
            {value === "accounts" ? "Accounts" : "Services"}
            {waiting[value] > 0 && (
              <span className="tab-count" data-testid={`unmapped-${value}`}>
                {waiting[value]}
                <span className="visually-hidden"> unmapped</span>
              </span>
            )}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === "accounts" ? <AccountsTab /> : <ServicesTab />}
      </div>
    </div>
  );
}
