"""Halls, business types, the service calendar and centre-wide settings (editable data)."""

from enum import StrEnum

from tortoise import fields

from models.base import TimestampedModel


class Hall(TimestampedModel):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=64)
    address = fields.CharField(max_length=255)
    quota_per_slot = fields.IntField()
    # Places per slot kept for bookings hotline staff make on a caller's behalf (电话预约).
    hotline_quota = fields.IntField(default=0)
    saturday_duty = fields.BooleanField(default=False)
    saturday_booking_only = fields.BooleanField(default=False)
    # {"weekday": [["09:00", "12:00"], ...], "saturday": [...],
    #  "extended": [{"kind": "late"|"early", "start", "end", "from": "YYYY-MM-DD"|None, "until": ...}]}
    # (extended = 延时服务 / 超前服务 on working days, bookable like any other period)
    sessions = fields.JSONField()
    review_mode = fields.BooleanField(default=False)
    cancel_release_delay_minutes = fields.IntField(default=0)
    active = fields.BooleanField(default=True)

    class Meta:
        table = "hall"


class BusinessType(TimestampedModel):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=128)
    short_name = fields.CharField(max_length=64)
    handling = fields.CharField(max_length=32)  # online | optional_online | hall_only
    handling_note = fields.TextField(null=True)
    booking = fields.CharField(max_length=32)  # none_online | required | walk_in
    time_limit_days = fields.IntField(default=0)
    public_notice_days = fields.IntField(default=0)
    time_limit_text = fields.CharField(max_length=128)
    fee = fields.JSONField(default=dict)
    fee_payer = fields.CharField(max_length=64, null=True)
    materials = fields.JSONField(default=list)
    notes = fields.JSONField(default=list)
    online_hint = fields.CharField(max_length=255, null=True)
    aliases = fields.JSONField(default=list)
    # Phased online rollout: [{"from": "YYYY-MM-DD", "handling", "booking", "online_hint"}], each entry
    # replacing the fields above from its date on (server.catalog.service.Catalog.mode_on).
    online_schedule = fields.JSONField(default=list, db_default="[]")
    active = fields.BooleanField(default=True)

    class Meta:
        table = "business_type"


class DayKind(StrEnum):
    HOLIDAY = "holiday"  # all halls closed
    WORKDAY = "workday"  # make-up workday (调休上班): weekday sessions
    EXTRA = "extra"  # extra service day (加开服务日)
    CLOSURE = "closure"  # temporary closure, whole day or some sessions


class CalendarDay(TimestampedModel):
    id = fields.IntField(primary_key=True)
    date = fields.DateField(db_index=True)
    kind = fields.CharEnumField(DayKind, max_length=16)
    name = fields.CharField(max_length=128)
    # Hall codes the entry applies to; empty list = every hall.
    halls = fields.JSONField(default=list)
    # [["09:00", "12:00"], ...]; None = the hall's weekday sessions (extra) or all day (closure).
    sessions = fields.JSONField(null=True)

    class Meta:
        table = "calendar_day"
        unique_together = (("date", "kind", "name"),)


class CenterSetting(TimestampedModel):
    """Centre-wide editable settings by key: booking_rules, center, fee_policy, walk_in_channels."""

    key = fields.CharField(max_length=64, primary_key=True)
    value = fields.JSONField()

    class Meta:
        table = "center_setting"


class HallScopePause(TimestampedModel):
    """A business type paused at one hall (e.g. 非公证继承 only at the center hall), with the reason shown."""

    id = fields.IntField(primary_key=True)
    hall_code = fields.CharField(max_length=32)
    business_type = fields.CharField(max_length=64)
    reason = fields.CharField(max_length=255)
    staff_id = fields.IntField(null=True)

    class Meta:
        table = "hall_scope_pause"
        unique_together = (("hall_code", "business_type"),)


class Bank(TimestampedModel):
    """A networked bank (联网银行): its service points and whether mortgages are registered fully online."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    branches = fields.JSONField(default=list)  # [{"name", "address"}]
    online_mortgage = fields.BooleanField(default=False)
    online_mortgage_since = fields.DateField(null=True)
    active = fields.BooleanField(default=True)

    class Meta:
        table = "bank"
