import IntegrationsSection from "../components/integrations/IntegrationsSection";
import BillingSection from "../components/settings/BillingSection";
import KeysSection from "../components/settings/KeysSection";
import PsaSection from "../components/settings/PsaSection";
import RulesSection from "../components/settings/RulesSection";
import UsersSection from "../components/settings/UsersSection";
import { PageHeader } from "../components/ui";
import { navigate, useSearch } from "../router";
import type { Me } from "../types";

type Section = "psa" | "billing" | "rules" | "integrations" | "users" | "keys";

const SECTIONS: { id: Section; label: string; admin?: boolean }[] = [
  { id: "psa", label: "PSA connection" },
  { id: "billing", label: "Billing cycle" },
  { id: "rules", label: "Auto-reconcile rules" },
  { id: "integrations", label: "Integrations" },
  { id: "users", label: "Users and roles", admin: true },
  { id: "keys", label: "API keys", admin: true },
];

export default function SettingsPage({ me }: { me: Me }) {
  const search = useSearch();
  const isAdmin = me.role === "admin";
  // "vendors" was this section's name before connectors joined it; old links still land here.
  const asked = search.get("section") === "vendors" ? "integrations" : search.get("section");
  const section = (SECTIONS.find((s) => s.id === asked)?.id ?? "psa") as Section;
  return (
    <div className="page">
      <PageHeader title="Settings" subtitle={isAdmin ? undefined : "Only admins can change settings; you can look."} />
      <div className="settings-layout">
        <nav className="settings-nav" aria-label="Settings sections">
          <ul>
            {SECTIONS.filter((s) => isAdmin || !s.admin).map((s) => (
              <li key={s.id}>
                <a
                  href={`/settings?section=${s.id}`}
                  className={section === s.id ? "active" : undefined}
                  aria-current={section === s.id ? "page" : undefined}
                  onClick={(e) => {
                    e.preventDefault();
                    navigate(`/settings?section=${s.id}`);
                  }}
                >
                  {s.label}
                </a>
              </li>
            ))}
            <li>
              <a
                href="/activity"
                onClick={(e) => {
                  e.preventDefault();
                  navigate("/activity");
                }}
              >
                Activity log
              </a>
            </li>
          </ul>
        </nav>
        <div className="settings-body">
          {section === "psa" && <PsaSection isAdmin={isAdmin} />}
          {section === "billing" && <BillingSection isAdmin={isAdmin} />}
          {section === "rules" && <RulesSection isAdmin={isAdmin} />}
          {section === "integrations" && <IntegrationsSection isAdmin={isAdmin} />}
          {section === "users" && isAdmin && <UsersSection />}
          {section === "keys" && isAdmin && <KeysSection />}
        </div>
      </div>
    </div>
  );
}
