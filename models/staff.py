"""Staff accounts of the center."""

from enum import StrEnum

from tortoise import fields

from models.base import TimestampedModel


class StaffRole(StrEnum):
    ADMIN = "admin"
    HALL_STAFF = "hall_staff"
    REVIEWER = "reviewer"
    HOTLINE = "hotline"
    PUBLISHER = "publisher"


class StaffUser(TimestampedModel):
    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=64, unique=True)
    display_name = fields.CharField(max_length=64)
    password_hash = fields.CharField(max_length=255)
    role = fields.CharEnumField(StaffRole, max_length=16)
    # Hall staff work at one hall; None means every hall.
    hall_code = fields.CharField(max_length=32, null=True)
    active = fields.BooleanField(default=True)
    # Sessions carry the version they were issued under: a password change, reset or revocation bumps it,
    # which ends every older session on its next request.
    session_version = fields.IntField(default=1)

    class Meta:
        table = "staff_user"
