"""Logs carry tenant, correlation and event ids, and never secrets."""

from __future__ import annotations

import json
import logging

import pytest

from trueup.platform.logging import REDACTED, bound_context, configure_logging, get_logger, redact


class TestRedaction:
    def test_secret_keys_are_redacted_recursively(self) -> None:
        data = {
            "user": "ann",
            "password": "hunter2",
            "nested": {"api_key": "k", "items": [{"client_secret": "s"}]},
        }
        assert redact(data) == {
            "user": "ann",
            "password": REDACTED,
            "nested": {"api_key": REDACTED, "items": [{"client_secret": REDACTED}]},
        }

    def test_secrets_inside_text_are_redacted(self) -> None:
        assert "hunter2" not in redact("login failed password=hunter2 for ann")


class TestStructuredLogs:
    def test_json_lines_carry_bound_ids_and_hide_secrets(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        configure_logging("svc", "INFO", "json")
        try:
            with bound_context(tenant_id="t1", correlation_id="c1", event_id="e1"):
                get_logger("test").info("hello", token="abc123")
                logging.getLogger("stdlib").warning("from stdlib")
            lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
        finally:
            configure_logging("tests", "WARNING", "console")
        ours, stdlib = lines[-2], lines[-1]
        assert ours["event"] == "hello"
        assert (ours["tenant_id"], ours["correlation_id"], ours["event_id"]) == ("t1", "c1", "e1")
        assert ours["token"] == REDACTED
        assert stdlib["event"] == "from stdlib"
        assert stdlib["tenant_id"] == "t1"
