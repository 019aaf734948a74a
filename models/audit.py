"""Audit trail of every staff read of personal data."""

from tortoise import fields
from tortoise.models import Model


class AuditLog(Model):
    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True, db_index=True)
    actor_kind = fields.CharField(max_length=16)  # staff | system | client
    actor_id = fields.CharField(max_length=64)
    action = fields.CharField(max_length=64)  # e.g. booking.pii.read
    target_type = fields.CharField(max_length=32)
    target_id = fields.CharField(max_length=64)
    fields_read = fields.JSONField(default=list)
    ip = fields.CharField(max_length=64, null=True)
    request_id = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "audit_log"
