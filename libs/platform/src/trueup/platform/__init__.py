"""TrueUp platform library."""
