"""Citizens: WeChat identities and their real-name binding (personal fields encrypted at rest)."""

from tortoise import fields

from models.base import TimestampedModel


class Citizen(TimestampedModel):
    id = fields.BigIntField(primary_key=True)
    openid = fields.CharField(max_length=64, unique=True)
    unionid = fields.CharField(max_length=64, null=True, db_index=True)
    # Ciphertexts (AES-GCM); *_hash are keyed hashes used for exact-match lookups.
    name_enc = fields.TextField(null=True)
    id_number_enc = fields.TextField(null=True)
    id_hash = fields.CharField(max_length=64, null=True, unique=True)
    id_last6_hash = fields.CharField(max_length=64, null=True)
    mobile_enc = fields.TextField(null=True)
    mobile_hash = fields.CharField(max_length=64, null=True, db_index=True)
    bound_at = fields.DatetimeField(null=True)
    suspended_until = fields.DatetimeField(null=True)

    class Meta:
        table = "citizen"
