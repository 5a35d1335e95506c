"""TrueUp psa library."""
