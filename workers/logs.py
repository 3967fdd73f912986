"""Structured logs: one JSON object a line, with the ids a record names and nothing else from `extra`.

darkroom logs ids only (sub, submission, item, message); codes, tokens and image bytes never reach a log
call, and a test reads every process's output for the tokens Google issued.
"""

from __future__ import annotations

import datetime
import json
import logging

from settings import Settings

IDS = ("sub", "submission_id", "item_id", "message_id", "queue", "jti", "notification_id", "channel")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "at": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update({key: getattr(record, key) for key in IDS if hasattr(record, key)})
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure(settings: Settings) -> None:
    """darkroom's loggers at `log_level`; JSON lines on every handler already set up (dramatiq's, uvicorn's,
    ours) when `log_format` asks for them."""
    for package in ("workers", "ingest"):
        logging.getLogger(package).setLevel(settings.log_level.upper())
    if settings.log_format != "json":
        return
    for name in (None, "uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            handler.setFormatter(JsonFormatter())
