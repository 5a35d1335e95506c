import AccountsTab from "../components/mapping/AccountsTab";
import ServicesTab from "../components/mapping/ServicesTab";
import { PageHeader } from "../components/ui";
import { navigate, useSearch } from "../router";

type Tab = "accounts" | "services";

export default function MappingPage() {
  const search = useSearch();
  const tab: Tab = search.get("tab") === "services" ? "services" : "accounts";
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
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === "accounts" ? <AccountsTab /> : <ServicesTab />}
      </div>
    </div>
  );
}
