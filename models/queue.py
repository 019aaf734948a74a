"""Hall queue tickets: one per check-in or walk-in, called to a window, then done or skipped."""

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class TicketStatus(StrEnum):
    WAITING = "waiting"
    CALLED = "called"  # at a window now
    DONE = "done"
    SKIPPED = "skipped"  # called and did not come (过号)


class QueueTicket(Model):
    """A queue number of one hall on one day. Timestamps give waiting and service times."""

    id = fields.BigIntField(primary_key=True)
    hall_code = fields.CharField(max_length=32)
    date = fields.DateField()
    number = fields.IntField()
    business_type = fields.CharField(max_length=64)
    booking_id = fields.BigIntField(null=True)
    walk_in_id = fields.BigIntField(null=True)
    status = fields.CharEnumField(TicketStatus, max_length=16, default=TicketStatus.WAITING)
    window = fields.CharField(max_length=16, null=True)
    calls = fields.IntField(default=0)
    issued_at = fields.DatetimeField()
    called_at = fields.DatetimeField(null=True)
    done_at = fields.DatetimeField(null=True)

    class Meta:
        table = "queue_ticket"
        unique_together = (("hall_code", "date", "number"),)
        indexes = (Index(fields=("hall_code", "date", "status")),)
