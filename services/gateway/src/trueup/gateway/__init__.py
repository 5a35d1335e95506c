"""TrueUp gateway service."""
