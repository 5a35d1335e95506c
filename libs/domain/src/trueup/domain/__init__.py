"""TrueUp domain library."""
