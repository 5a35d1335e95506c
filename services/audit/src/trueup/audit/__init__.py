"""TrueUp audit service."""
