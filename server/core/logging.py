"""Structured logs: one JSON object a line, each carrying the request id of the request it belongs to."""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
import time
import uuid

import ujson
from sanic import Request


def current_request_id() -> str:
    """The id of the request being handled in this task (log lines of background work spawned by a
    request carry it too), or "-" outside any request."""
    request = Request._current.get(None)
    return getattr(request, "request_id", "-") if request is not None else "-"


class DengjiRequest(Request):
    """Sanic's request plus its start time and a cheap id, set without a middleware.

    The id is the client's X-Request-ID (at most 64 characters) or a per-process random prefix plus a
    counter: unique like a uuid4, without a urandom syscall per request.
    """

    __slots__ = ("started", "_request_id")
    _prefix = ""
    _counter = itertools.count(1)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.started = time.perf_counter()
        self._request_id: str | None = None

    @property
    def request_id(self) -> str:
        if self._request_id is None:
            given = self.headers.get("x-request-id")
            self._request_id = given[:64] if given else f"{self._process_prefix()}{next(self._counter):024x}"
        return self._request_id

    @classmethod
    def _process_prefix(cls) -> str:
        if not cls._prefix:
            cls._prefix = uuid.uuid4().hex[:8]
        return cls._prefix


# A forked worker must not share its parent's prefix.
os.register_at_fork(after_in_child=lambda: setattr(DengjiRequest, "_prefix", ""))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
            + f".{int(record.msecs):03d}",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": current_request_id(),
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
        return f"{base} request_id={current_request_id()}" + (f" {extra}" if extra else "")


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
