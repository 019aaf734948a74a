"""The booking domain's notion of "now", injectable so tests can stand at any moment of the week.

Production uses the wall clock. The test harness (same process as the server) pins or moves it through
``app.ctx.clock``; jobs see the same object as ``ctx["clock"]``. Nothing outside tests ever sets it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo


class Clock:
    """Wall clock that tests can pin (set) or move (advance)."""

    def __init__(self) -> None:
        self._fixed: datetime | None = None
        self._offset = timedelta(0)

    def now(self, tz: tzinfo) -> datetime:
        """Return the current instant in the given time zone."""
        base = self._fixed if self._fixed is not None else datetime.now(UTC) + self._offset
        return base.astimezone(tz)

    def set(self, when: datetime) -> None:
        """Pin the clock to an aware instant."""
        if when.tzinfo is None:
            raise ValueError("clock needs an aware datetime")
        self._fixed = when

    def advance(self, **delta: float) -> None:
        """Move the clock forward (pinned or not)."""
        if self._fixed is not None:
            self._fixed += timedelta(**delta)
        else:
            self._offset += timedelta(**delta)

    def reset(self) -> None:
        self._fixed, self._offset = None, timedelta(0)


SYSTEM_CLOCK = Clock()


def of(ctx) -> Clock:
    """Return the clock of an app ctx or a job ctx dict."""
    if isinstance(ctx, dict):
        return ctx.get("clock") or SYSTEM_CLOCK
    return getattr(ctx, "clock", None) or SYSTEM_CLOCK
