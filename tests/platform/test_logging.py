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


class TestQuietByDefault:
    def test_faststream_bookkeeping_shows_only_at_debug_and_errors_always(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from trueup.platform.broker import create_broker

        create_broker("nats://127.0.0.1:4222", "quiet")
        broker_logger = logging.getLogger("trueup.quiet.broker")
        try:
            configure_logging("svc", "INFO", "json")
            broker_logger.info("`Consume` waiting for messages")
            broker_logger.debug("Received")
            broker_logger.error("handler failed")
            at_info = [json.loads(line)["event"] for line in capsys.readouterr().err.splitlines()]
            configure_logging("svc", "DEBUG", "json")
            broker_logger.info("callback for Task-1 is being executed...")
            at_debug = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
        finally:
            configure_logging("tests", "WARNING", "console")
        assert at_info == ["handler failed"]
        assert [(line["event"], line["level"]) for line in at_debug] == [
            ("callback for Task-1 is being executed...", "debug")
        ]

    def test_a_retried_fetch_timeout_is_one_debug_line_and_other_failures_errors(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from trueup.platform.broker import create_broker

        create_broker("nats://127.0.0.1:4222", "quiet")
        broker_logger = logging.getLogger("trueup.quiet.broker")

        def supervisor_reports(task: str, error: Exception) -> None:
            # As faststream's task supervisor reports a fetching task it restarts.
            broker_logger.error(
                f"{task} raised an exception, retrying...\nIf this behavior causes issues",
                exc_info=error,
            )

        try:
            configure_logging("svc", "INFO", "json")
            supervisor_reports("Task-21", TimeoutError())
            supervisor_reports("Task-22", KeyError("boom"))
            at_info = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
            configure_logging("svc", "DEBUG", "json")
            supervisor_reports("Task-23", TimeoutError())
            at_debug = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
        finally:
            configure_logging("tests", "WARNING", "console")
        assert [line["level"] for line in at_info] == ["error"]
        assert "KeyError" in at_info[0]["exception"]
        assert [(line["level"], line["event"]) for line in at_debug] == [
            ("debug", "Task-23 raised an exception, retrying... (TimeoutError)")
        ]
        assert "exception" not in at_debug[0]

    def test_uvicorn_and_alembic_start_up_lines_are_hidden_at_info(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        configure_logging("svc", "INFO", "json")
        try:
            logging.getLogger("uvicorn.error").info("Started server process [1]")
            logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
            logging.getLogger("uvicorn.error").error("port in use")
            events = [json.loads(line)["event"] for line in capsys.readouterr().err.splitlines()]
        finally:
            configure_logging("tests", "WARNING", "console")
        assert events == ["port in use"]
