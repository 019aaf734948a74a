"""Real-name time-slot bookings, their per-slot counters, holders, queue numbers and walk-ins."""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.base import TimestampedModel


class BookingStatus(StrEnum):
    PENDING = "pending"  # review mode: waiting for a reviewer (待确认)
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    CANCELLED = "cancelled"
    DECLINED = "declined"
    NO_SHOW = "no_show"
    EXPIRED = "expired"  # still pending when the slot ended: not the citizen's fault, not a no-show


class BookingChannel(StrEnum):
    ONLINE = "online"  # mini-program / public account
    HOTLINE = "hotline"  # booked by hotline staff on a caller's behalf


class SlotCounter(TimestampedModel):
    """Places of one slot for one channel — `booked` only moves by conditional UPDATEs."""

    id = fields.BigIntField(primary_key=True)
    hall_code = fields.CharField(max_length=32)
    date = fields.DateField()
    start = fields.CharField(max_length=5)  # "HH:MM"
    channel = fields.CharEnumField(BookingChannel, max_length=16)
    quota = fields.IntField()
    booked = fields.IntField(default=0)
    # Set once staff changed this slot's quota (加号); hall-wide quota edits then leave it alone.
    overridden = fields.BooleanField(default=False)

    class Meta:
        table = "slot_counter"
        unique_together = (("hall_code", "date", "start", "channel"),)


class BookingHolder(TimestampedModel):
    """One row per ID number: locked while booking so per-person limits hold under concurrency."""

    id_hash = fields.CharField(max_length=64, primary_key=True)
    version = fields.BigIntField(default=0)
    suspended_until = fields.DatetimeField(null=True)

    class Meta:
        table = "booking_holder"


class Booking(TimestampedModel):
    id = fields.BigIntField(primary_key=True)
    code = fields.CharField(max_length=16, unique=True)
    citizen = fields.ForeignKeyField("models.Citizen", related_name="bookings", null=True,
                                     on_delete=fields.SET_NULL)
    # The booking belongs to a real name: keyed hash for lookups, ciphertexts for display.
    id_hash = fields.CharField(max_length=64, db_index=True)
    name_enc = fields.TextField()
    id_number_enc = fields.TextField()
    mobile_enc = fields.TextField()
    agent_credit_code_enc = fields.TextField(null=True)
    hall_code = fields.CharField(max_length=32)
    business_type = fields.CharField(max_length=64)
    date = fields.DateField()
    start = fields.CharField(max_length=5)
    end = fields.CharField(max_length=5)
    slot_at = fields.DatetimeField(db_index=True)
    slot_end_at = fields.DatetimeField(db_index=True)
    channel = fields.CharEnumField(BookingChannel, max_length=16)
    status = fields.CharEnumField(BookingStatus, max_length=16, db_index=True)
    counter_id = fields.BigIntField()
    # 1..per_id_per_day while the booking holds one of the person's places that day, NULL once released;
    # unique with (id_hash, date) so the daily limit holds in the database itself.
    day_seq = fields.IntField(null=True)
    subscribe = fields.BooleanField(default=False)
    created_by_staff_id = fields.IntField(null=True)
    idem_owner = fields.CharField(max_length=32, null=True)
    idem_key = fields.CharField(max_length=128, null=True)
    idem_hash = fields.CharField(max_length=64, null=True)
    review_reason = fields.CharField(max_length=255, null=True)
    reviewed_by = fields.IntField(null=True)
    reviewed_at = fields.DatetimeField(null=True)
    cancelled_at = fields.DatetimeField(null=True)
    # The place goes back to the pool at release_at (anti-scalping delay); released_at once it did.
    release_at = fields.DatetimeField(null=True, db_index=True)
    released_at = fields.DatetimeField(null=True)
    checked_in_at = fields.DatetimeField(null=True)
    queue_no = fields.IntField(null=True)
    reminded_at = fields.DatetimeField(null=True)
    review_notified_at = fields.DatetimeField(null=True)
    no_show_at = fields.DatetimeField(null=True)

    class Meta:
        table = "booking"
        unique_together = (("id_hash", "date", "day_seq"), ("idem_owner", "idem_key"))
        # A hall's day (the console's desk) and figures over date ranges (counted from the index alone).
        indexes = (("date", "hall_code", "status"),)


class QueueCounter(Model):
    """Queue-number sequence of one hall on one day."""

    id = fields.BigIntField(primary_key=True)
    hall_code = fields.CharField(max_length=32)
    date = fields.DateField()
    issued = fields.IntField(default=0)

    class Meta:
        table = "queue_counter"
        unique_together = (("hall_code", "date"),)


class WalkIn(Model):
    """A green-channel visit (免预约) that got a queue number without a booking."""

    id = fields.BigIntField(primary_key=True)
    hall_code = fields.CharField(max_length=32)
    date = fields.DateField(db_index=True)
    business_type = fields.CharField(max_length=64)
    channel_code = fields.CharField(max_length=64)
    queue_no = fields.IntField()
    staff_id = fields.IntField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "walk_in"
