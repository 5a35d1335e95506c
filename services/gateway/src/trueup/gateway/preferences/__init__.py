"""Per-user preferences kept by the gateway: saved views of the web UI."""
