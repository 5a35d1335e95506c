"""Message handlers: parse, call the service inside one transaction, done."""
