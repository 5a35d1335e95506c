"""Identity: tenants, users (argon2 passwords), API keys (hashed), sessions (JWT cookies)."""
