"""Structured logs: one JSON object a line, each carrying the request id of the request it belongs to."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time

import ujson

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
            + f".{int(record.msecs):03d}",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        extra = getattr(record, "fields", None)
        if extra:
            out.update(extra)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extra = getattr(record, "fields", None)
        return f"{base} request_id={request_id_var.get()}" + (f" {extra}" if extra else "")


def configure_logging(level: str = "INFO", as_json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    text = TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    handler.setFormatter(JsonFormatter() if as_json else text)
    root = logging.getLogger("dengji")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class AccessLog:
    """Structured access log, one JSON line per request, written in batches.

    The logging module's per-record machinery (record, locks, handlers, a write per line) was a fifth of a
    cheap request's CPU; lines are buffered here and written by a periodic flush (and at shutdown) instead.
    """

    def __init__(self, stream=None, *, enabled: bool = True, max_lines: int = 256) -> None:
        self.stream = stream
        self.enabled = enabled
        self.max_lines = max_lines
        self._lines: list[str] = []

    def write(self, fields: dict) -> None:
        if not self.enabled:
            return
        fields["ts"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        fields["request_id"] = request_id_var.get()
        self._lines.append(ujson.dumps(fields, ensure_ascii=False))
        if len(self._lines) >= self.max_lines:
            self.flush()

    def flush(self) -> None:
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        stream = self.stream or sys.stderr
        stream.write("\n".join(lines) + "\n")
        stream.flush()
