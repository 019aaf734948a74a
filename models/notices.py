"""Targeted notices: organisations and their members, notices, per-recipient deliveries, hall subscriptions."""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.base import TimestampedModel


class OrgType(StrEnum):
    BANK = "bank"
    HOUSING_FUND = "housing_fund"
    DEVELOPER = "developer"
    AGENCY = "agency"
    COURT = "court"
    OTHER = "other"


class Organization(TimestampedModel):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    type = fields.CharEnumField(OrgType, max_length=16, db_index=True)
    district = fields.CharField(max_length=32, db_index=True)
    business_lines = fields.JSONField(default=list)
    tags = fields.JSONField(default=list)
    credit_code = fields.CharField(max_length=18, null=True, unique=True)
    # Suspended organisations stay on file but receive nothing.
    suspended = fields.BooleanField(default=False)

    class Meta:
        table = "notice_org"


class OrgMember(TimestampedModel):
    id = fields.BigIntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "models.Organization", related_name="members", on_delete=fields.CASCADE)
    openid = fields.CharField(max_length=64, db_index=True)
    # "mp" when bound through the mini-program, "oa" through a public-account QR scan.
    channel = fields.CharField(max_length=8, default="mp")
    is_admin = fields.BooleanField(default=False)
    active = fields.BooleanField(default=True)
    left_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notice_org_member"
        unique_together = (("org", "openid"),)


class OrgInvitation(Model):
    id = fields.BigIntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "models.Organization", related_name="invitations", on_delete=fields.CASCADE)
    code_hash = fields.CharField(max_length=64, unique=True)
    is_admin = fields.BooleanField(default=False)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    used_by_openid = fields.CharField(max_length=64, null=True)
    created_by_staff_id = fields.IntField(null=True)
    created_by_member_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "notice_org_invitation"


class NoticeStatus(StrEnum):
    DRAFT = "draft"
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    WITHDRAWN = "withdrawn"
    REJECTED = "rejected"


class NoticeAudience(StrEnum):
    ORGS = "orgs"  # members of organisations, by template message
    PUBLIC = "public"  # citizens subscribed to halls, by mini-program subscribe message


class Notice(TimestampedModel):
    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=64)
    body = fields.TextField()
    category = fields.CharField(max_length=32)
    audience = fields.CharEnumField(NoticeAudience, max_length=8, default=NoticeAudience.ORGS)
    attachments = fields.JSONField(default=list)
    target = fields.JSONField(default=dict)
    status = fields.CharEnumField(NoticeStatus, max_length=16, default=NoticeStatus.DRAFT, db_index=True)
    scheduled_at = fields.DatetimeField(null=True)
    created_by_id = fields.IntField()
    submitted_at = fields.DatetimeField(null=True)
    reviewed_by_id = fields.IntField(null=True)
    reviewed_at = fields.DatetimeField(null=True)
    review_comment = fields.CharField(max_length=255, null=True)
    started_at = fields.DatetimeField(null=True)
    expanded = fields.BooleanField(default=False)
    recipients = fields.IntField(default=0)
    finished_at = fields.DatetimeField(null=True)
    withdrawn_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notice"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class NoticeDelivery(Model):
    id = fields.BigIntField(primary_key=True)
    notice: fields.ForeignKeyRelation[Notice] = fields.ForeignKeyField(
        "models.Notice", related_name="deliveries", on_delete=fields.CASCADE)
    member: fields.ForeignKeyNullableRelation[OrgMember] = fields.ForeignKeyField(
        "models.OrgMember", related_name="deliveries", null=True, on_delete=fields.RESTRICT)
    org: fields.ForeignKeyNullableRelation[Organization] = fields.ForeignKeyField(
        "models.Organization", related_name="deliveries", null=True, on_delete=fields.RESTRICT)
    citizen_id = fields.BigIntField(null=True)
    openid = fields.CharField(max_length=64)
    channel = fields.CharField(max_length=8)
    status = fields.CharEnumField(DeliveryStatus, max_length=8, default=DeliveryStatus.PENDING)
    # Claim bookkeeping: who holds the row and until when (see notices/delivery.py).
    owner = fields.CharField(max_length=48, null=True)
    lease_until = fields.DatetimeField(null=True)
    attempts = fields.SmallIntField(default=0)
    last_attempt_at = fields.DatetimeField(null=True)
    next_attempt_at = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    msgid = fields.CharField(max_length=32, null=True)
    error_code = fields.IntField(null=True)
    error_reason = fields.CharField(max_length=255, null=True)
    read_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "notice_delivery"
        # A person gets a notice once, whichever organisation or subscription reached them.
        unique_together = (("notice", "member"), ("notice", "openid"))
        indexes = (("notice_id", "status"),)


class HallSubscription(Model):
    id = fields.BigIntField(primary_key=True)
    citizen_id = fields.BigIntField(db_index=True)
    openid = fields.CharField(max_length=64)
    hall_code = fields.CharField(max_length=32, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "notice_hall_subscription"
        unique_together = (("citizen_id", "hall_code"),)
