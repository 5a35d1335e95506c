"""One logging setup: structlog for our code, stdlib loggers routed through it.

`tenant_id`, `correlation_id` and `event_id` are bound per message or request through
contextvars, so every line logged while handling it carries them. Secrets are redacted
by key name before rendering.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

_SECRET_KEY = re.compile(
    r"pass(word)?|secret|token|api_?key|authorization|private_?key|credential|cookie",
    re.IGNORECASE,
)
_SECRET_IN_TEXT = re.compile(
    r"(?i)((?:password|secret|token|api_?key|authorization)[\"']?\s*[=:]\s*[\"']?)([^\s\"',&]+)"
)
REDACTED = "***"


def redact(value: Any, key: str = "") -> Any:
    """Replace secret-looking values, recursively through mappings and lists."""
    if key and _SECRET_KEY.search(key) and value not in (None, ""):
        return REDACTED
    if isinstance(value, MutableMapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    if isinstance(value, str):
        return _SECRET_IN_TEXT.sub(lambda m: m.group(1) + REDACTED, value)
    return value


def _redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    return {k: redact(v, k) for k, v in event_dict.items()}


def configure_logging(service: str, level: str = "INFO", fmt: str = "console") -> None:
    """Configure structlog and the stdlib root logger once per process."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        _redact_processor,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if fmt == "json" else _identity,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Per-request and start-up chatter (uvicorn's "Started server process", alembic's
    # "Context impl") says nothing the runtime's banner does not: warnings only.
    noisy_loggers = (
        "uvicorn.access",
        "uvicorn.error",
        "alembic",
        "httpx",
        "httpcore",
        "aiosqlite",
        "asyncio",
    )
    for noisy in noisy_loggers:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # uvicorn's own dictConfig (any uvicorn.Config in the process, e.g. a simulator) gives
    # its loggers private handlers and stops propagation; every line goes through ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        own = logging.getLogger(name)
        own.handlers.clear()
        own.propagate = True
    structlog.contextvars.bind_contextvars(service=service)


def _identity(_logger: Any, _method: str, event_dict: Any) -> Any:
    return event_dict


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; bind more context with `.bind(...)`."""
    return structlog.stdlib.get_logger(name)


@contextmanager
def bound_context(**values: str | None) -> Iterator[None]:
    """Bind `tenant_id`, `correlation_id`, `event_id` (or others) for the block."""
    clean = {k: v for k, v in values.items() if v is not None}
    tokens = structlog.contextvars.bind_contextvars(**clean)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
