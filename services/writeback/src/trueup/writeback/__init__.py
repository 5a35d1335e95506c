"""TrueUp writeback service."""
