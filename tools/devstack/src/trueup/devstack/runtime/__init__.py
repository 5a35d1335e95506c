"""The embedded runtime: NATS from the wheel and every service under one supervisor."""
