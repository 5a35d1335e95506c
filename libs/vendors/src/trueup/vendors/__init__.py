"""TrueUp vendors library: where usage comes from.

- `trueup.vendors.csv`: vendor usage files (detection, preview, mapping, validation,
  aggregation);
- `trueup.vendors.webhooks`: Standard Webhooks signatures and push bodies;
- `trueup.vendors.connectors`: scheduled polls of vendor APIs (Pax8, NinjaOne, Huntress);
- `trueup.vendors.usage`: `ReportedUsage`, what each of them reports.

The simulators of those vendor APIs are the development stack's
(`trueup.devstack.vendor_simulators`).
"""
