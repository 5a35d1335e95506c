"""TrueUp vendors library."""
