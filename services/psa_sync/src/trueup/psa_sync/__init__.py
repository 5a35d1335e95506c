"""TrueUp psa_sync service."""
