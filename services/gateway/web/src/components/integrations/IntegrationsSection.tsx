import ConnectorsPanel from "./ConnectorsPanel";
import PushKeyPanel from "./PushKeyPanel";
import WebhooksPanel from "./WebhooksPanel";

/** Settings → Integrations: how usage reaches TrueUp besides CSV imports. */
export default function IntegrationsSection({ isAdmin }: { isAdmin: boolean }) {
  return (
    <>
      <ConnectorsPanel isAdmin={isAdmin} />
      {isAdmin ? (
        <>
          <WebhooksPanel />
          <PushKeyPanel />
        </>
      ) : (
        <p className="muted small">Webhook endpoints and the push API key hold secrets: only admins see them.</p>
      )}
    </>
  );
}
