import { isNotFound } from "../../api";
import { ErrorBanner } from "../ui";

export default function Unavailable({ error, what }: { error: unknown; what: string }) {
  if (!error) return null;
  if (isNotFound(error)) return <p className="muted">{what} cannot be managed on this server yet.</p>;
  return <ErrorBanner error={error} />;
}
