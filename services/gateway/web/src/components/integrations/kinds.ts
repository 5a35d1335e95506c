// What the integrations UI knows about each connector kind: its name, the credentials it
// needs (the API says the same, and answers 422 naming a missing field) and where its
// public API lives.

import type { ConnectorKind } from "../../types";

export interface CredentialField {
  key: string;
  label: string;
  secret?: boolean;
  optional?: boolean;
}

export const KINDS: { id: ConnectorKind; label: string; baseUrl: string; fields: CredentialField[] }[] = [
  {
    id: "pax8",
    label: "Pax8",
    baseUrl: "https://api.pax8.com",
    fields: [
      { key: "client_id", label: "Client id" },
      { key: "client_secret", label: "Client secret", secret: true },
      { key: "token_url", label: "Token URL", optional: true },
    ],
  },
  {
    id: "ninjaone",
    label: "NinjaOne",
    baseUrl: "https://app.ninjarmm.com",
    fields: [
      { key: "client_id", label: "Client id" },
      { key: "client_secret", label: "Client secret", secret: true },
    ],
  },
  {
    id: "huntress",
    label: "Huntress",
    baseUrl: "https://api.huntress.io",
    fields: [
      { key: "api_key", label: "API key" },
      { key: "api_secret", label: "API secret", secret: true },
    ],
  },
];

export function kindOf(id: string) {
  return KINDS.find((k) => k.id === id) ?? KINDS[0]!;
}

export const SCHEDULES: { seconds: number; label: string }[] = [
  { seconds: 15 * 60, label: "Every 15 minutes" },
  { seconds: 60 * 60, label: "Every hour" },
  { seconds: 6 * 60 * 60, label: "Every 6 hours" },
  { seconds: 12 * 60 * 60, label: "Every 12 hours" },
  { seconds: 24 * 60 * 60, label: "Every day" },
];

export function everyLabel(seconds: number): string {
  const known = SCHEDULES.find((s) => s.seconds === seconds);
  if (known) return known.label;
  if (seconds % 3600 === 0) return `Every ${seconds / 3600} hours`;
  return `Every ${Math.round(seconds / 60)} minutes`;
}
