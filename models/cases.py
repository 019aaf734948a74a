"""Registration cases (办件), their stage history, applicants, ingest events, subscriptions and pushes."""

from tortoise import fields
from tortoise.models import Model

from models.base import TimestampedModel


class Case(TimestampedModel):
    id = fields.BigIntField(primary_key=True)
    receipt_no = fields.CharField(max_length=32, unique=True)
    business_type = fields.CharField(max_length=64)
    hall = fields.CharField(max_length=32)
    # Current stage and the (occurred_at, seq) of the event that set it: older events never move it back.
    stage = fields.CharField(max_length=32)
    stage_at = fields.DatetimeField()
    stage_seq = fields.BigIntField(default=0)
    missing_materials = fields.JSONField(default=list)
    accepted_at = fields.DatetimeField(null=True)
    promised_date = fields.DateField(null=True)
    finished_at = fields.DatetimeField(null=True)
    delivery_method = fields.CharField(max_length=32, null=True)
    tracking_no = fields.CharField(max_length=64, null=True)
    delivery_at = fields.DatetimeField(null=True)
    # Set by the overdue sweep so staff lists can show when a case was first seen overdue.
    overdue_flagged_at = fields.DatetimeField(null=True)
    # How it was filed: online_self | online_agent (agency/bank/developer for the citizen) | hall | unknown.
    channel = fields.CharField(max_length=16, default="unknown", db_default="unknown")
    # The promised date's clock stops while the case waits for the citizen's correction (补正):
    # correction_since marks the stop, promised_date moves on by the working days it lasted.
    correction_since = fields.DatetimeField(null=True)
    # Electronic certificate (电子证照) from the business system when the case reaches 发证.
    e_cert_no = fields.CharField(max_length=64, null=True)
    e_cert_url = fields.CharField(max_length=512, null=True)

    class Meta:
        table = "cases"
        # The last one answers the staff console's overdue counts (stage IN …, promised_date < today, grouped by
        # hall and business type) from the index alone.
        indexes = (("hall", "business_type", "promised_date"), ("promised_date",),
                   ("stage", "promised_date", "hall", "business_type", "id"), ("accepted_at",))


class CaseApplicant(Model):
    id = fields.BigIntField(primary_key=True)
    case = fields.ForeignKeyField("models.Case", related_name="applicants", on_delete=fields.CASCADE)
    # Keyed hashes only: the ID number is never stored in clear (server.identity.service.id_hash).
    id_hash = fields.CharField(max_length=64, db_index=True)
    id_last6_hash = fields.CharField(max_length=64)
    name_enc = fields.TextField(null=True)

    class Meta:
        table = "case_applicant"
        unique_together = (("case", "id_hash"),)


class CaseStageEntry(Model):
    """One stage in a case's history (late events are inserted here without moving the case)."""

    id = fields.BigIntField(primary_key=True)
    case = fields.ForeignKeyField("models.Case", related_name="history", on_delete=fields.CASCADE)
    event_id = fields.CharField(max_length=128, null=True)
    stage = fields.CharField(max_length=32)
    occurred_at = fields.DatetimeField()
    seq = fields.BigIntField(default=0)
    note = fields.TextField(null=True)
    missing_materials = fields.JSONField(default=list)
    applied = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "case_stage_entry"
        indexes = (("case_id", "occurred_at"),)


class CaseEvent(Model):
    """Every event accepted from a business system, kept as received — event_id makes ingest idempotent."""

    id = fields.BigIntField(primary_key=True)
    event_id = fields.CharField(max_length=128, unique=True)
    type = fields.CharField(max_length=64)
    receipt_no = fields.CharField(max_length=32, db_index=True)
    occurred_at = fields.DatetimeField()
    seq = fields.BigIntField(default=0)
    client = fields.CharField(max_length=64)
    # The payload with ID numbers replaced by their keyed hashes and names encrypted.
    payload = fields.JSONField(default=dict)
    applied = fields.BooleanField(default=True)
    received_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "case_event"


class IngestClient(TimestampedModel):
    """A business system allowed to post events — its HMAC secret is stored encrypted, never in clear."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    key_id = fields.CharField(max_length=64, unique=True)
    secret_enc = fields.TextField()
    active = fields.BooleanField(default=True)
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "ingest_client"


class CaseSubscription(TimestampedModel):
    """A citizen's consent to receive stage-change pushes for one case."""

    id = fields.BigIntField(primary_key=True)
    case = fields.ForeignKeyField("models.Case", related_name="subscriptions", on_delete=fields.CASCADE)
    citizen = fields.ForeignKeyField("models.Citizen", related_name="case_subscriptions", on_delete=fields.CASCADE)
    active = fields.BooleanField(default=True)

    class Meta:
        table = "case_subscription"
        unique_together = (("case", "citizen"),)


class CaseNotification(TimestampedModel):
    """One push of one stage change to one citizen: claimed before sending so it is never sent twice."""

    id = fields.BigIntField(primary_key=True)
    stage_entry = fields.ForeignKeyField("models.CaseStageEntry", related_name="notifications",
                                         on_delete=fields.CASCADE)
    citizen = fields.ForeignKeyField("models.Citizen", related_name="case_notifications", on_delete=fields.CASCADE)
    status = fields.CharField(max_length=16, default="pending")  # pending | sending | sent | failed
    claimed_at = fields.DatetimeField(null=True)
    # Written just before the WeChat call: a row stuck in "sending" without it never left, so the sweep
    # sends it; with it the sweep resends it marked RESUMED, and 43101 (one-time consent already used) on
    # that resend means the interrupted attempt was delivered (server/progress/service.py: recover_stuck).
    attempted_at = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    tries = fields.IntField(default=0)
    error = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "case_notification"
        unique_together = (("stage_entry", "citizen"),)
