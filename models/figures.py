"""Daily roll-ups behind the management figures (GET /api/staff/figures): one row per hall-day."""

from tortoise import fields
from tortoise.models import Model


class FigureDay(Model):
    """Bookings, check-ins, no-shows and walk-ins of one hall on one day (slot date)."""

    id = fields.BigIntField(primary_key=True)
    day = fields.DateField()
    hall_code = fields.CharField(max_length=32)
    bookings = fields.IntField(default=0)
    check_ins = fields.IntField(default=0)
    no_shows = fields.IntField(default=0)
    walk_ins = fields.IntField(default=0)
    wait_seconds = fields.BigIntField(default=0)  # sum of check-in → call waits, once a queue records calls
    waits = fields.IntField(default=0)
    rolled_at = fields.DatetimeField()

    class Meta:
        table = "figure_day"
        unique_together = (("day", "hall_code"),)


class CaseFigureDay(Model):
    """Cases accepted on one day at one hall for one business type, counted by filing channel."""

    id = fields.BigIntField(primary_key=True)
    day = fields.DateField()
    hall_code = fields.CharField(max_length=32)
    business_type = fields.CharField(max_length=64)
    online_self = fields.IntField(default=0)
    online_agent = fields.IntField(default=0)
    at_hall = fields.IntField(default=0)
    unknown = fields.IntField(default=0)

    class Meta:
        table = "case_figure_day"
        unique_together = (("day", "hall_code", "business_type"),)
