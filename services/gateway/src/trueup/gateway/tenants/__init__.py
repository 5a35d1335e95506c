"""Tenants as the operator manages them: create, suspend, resume, delete, invite."""
