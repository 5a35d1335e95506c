"""TrueUp reconciliation service."""
