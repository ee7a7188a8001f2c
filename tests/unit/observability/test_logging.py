"""Structured logs: JSON off a terminal, readable lines on one, one pipeline for every logger."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from throne.observability.logging import configure_logging, get_logger


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def _lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line]


def test_off_a_terminal_each_record_is_one_json_object() -> None:
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    get_logger("throne.daemon").info("battle_decided", block=12, result="dethroned")
    (line,) = _lines(out)
    record = json.loads(line)
    assert record["event"] == "battle_decided" and record["block"] == 12
    assert record["level"] == "info" and record["logger"] == "throne.daemon"
    assert record["timestamp"].endswith("Z")


def test_standard_library_loggers_come_out_in_the_same_format() -> None:
    out = io.StringIO()
    configure_logging("INFO", json=True, stream=out)
    logging.getLogger("uvicorn.error").warning("port %d busy", 8080)
    record = json.loads(_lines(out)[0])
    assert record["event"] == "port 8080 busy" and record["level"] == "warning"


def test_on_a_terminal_lines_are_readable_not_json() -> None:
    out = Terminal()
    configure_logging("INFO", stream=out)
    get_logger("throne").info("pool_refreshed", pool=3)
    (line,) = _lines(out)
    assert "pool_refreshed" in line and "pool" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_records_below_the_level_are_dropped_and_reconfiguring_does_not_duplicate() -> None:
    out = io.StringIO()
    configure_logging("WARNING", json=True, stream=out)
    configure_logging("WARNING", json=True, stream=out)
    log = get_logger("throne")
    log.info("ignored")
    log.warning("kept")
    assert [json.loads(line)["event"] for line in _lines(out)] == ["kept"]


def test_exceptions_are_rendered_into_the_json_record() -> None:
    out = io.StringIO()
    configure_logging("INFO", json=True, stream=out)
    try:
        raise ValueError("boom")
    except ValueError:
        get_logger("throne").exception("sampler_failed")
    record = json.loads(_lines(out)[0])
    assert "ValueError: boom" in record["exception"]


def test_loggers_a_server_reconfigured_come_back_to_our_handler() -> None:
    import logging.config

    from uvicorn.config import LOGGING_CONFIG

    logging.config.dictConfig(LOGGING_CONFIG)
    out = io.StringIO()
    configure_logging("INFO", json=True, stream=out)
    logging.getLogger("uvicorn.error").warning("port %d busy", 8081)
    assert json.loads(_lines(out)[0])["event"] == "port 8081 busy"


def test_by_default_records_go_to_the_stderr_of_the_moment_not_to_a_closed_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = io.StringIO()
    monkeypatch.setattr("sys.stderr", before)
    configure_logging("INFO", json=True)
    before.close()  # e.g. a capture that ended while a server thread lives on
    after = io.StringIO()
    monkeypatch.setattr("sys.stderr", after)
    get_logger("throne.test").info("still_heard")
    logging.getLogger("uvicorn.error").warning("from the library")
    assert [json.loads(line)["event"] for line in _lines(after)] == [
        "still_heard",
        "from the library",
    ]
    assert "Logging error" not in capsys.readouterr().err
