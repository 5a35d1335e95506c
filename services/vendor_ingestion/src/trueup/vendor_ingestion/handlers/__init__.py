"""Message handlers: thin; they parse, call the use cases, and answer."""
