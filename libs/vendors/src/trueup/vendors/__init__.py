"""TrueUp vendors library: where usage comes from.

- `trueup.vendors.csv`: vendor usage files (detection, preview, mapping, validation,
  aggregation);
- `trueup.vendors.webhooks`: Standard Webhooks signatures and push bodies;
- `trueup.vendors.connectors`: scheduled polls of vendor APIs (Pax8, NinjaOne, Huntress);
- `trueup.devstack.vendor_simulators`: those vendor APIs with a demo MSP's data;
- `trueup.vendors.usage`: the usage record they all produce.
"""
