"""Citizens: one row per person, the openid of each WeChat app linked to it, and the real-name binding.

The same person has a different openid in the mini-program and in the public account and one unionid
across them, so the row is found by any of the three. A real name counts only once it is verified (face
verification or a counter code): only then is ``id_hash`` set, and everything keyed by the ID number looks at
``id_hash``. Bindings made before verification existed keep their claim in ``claimed_id_hash`` and give
access to nothing until the person verifies (personal fields encrypted at rest).
"""

from tortoise import fields

from models.base import TimestampedModel


class Citizen(TimestampedModel):
    id = fields.BigIntField(primary_key=True)
    openid = fields.CharField(max_length=64, unique=True, null=True)  # the mini-program's openid
    oa_openid = fields.CharField(max_length=64, unique=True, null=True)  # the public account's openid
    unionid = fields.CharField(max_length=64, null=True, unique=True)
    # Ciphertexts (AES-GCM); *_hash are keyed hashes used for exact-match lookups.
    name_enc = fields.TextField(null=True)
    id_number_enc = fields.TextField(null=True)
    id_hash = fields.CharField(max_length=64, null=True, unique=True)
    id_last6_hash = fields.CharField(max_length=64, null=True)
    mobile_enc = fields.TextField(null=True)
    mobile_hash = fields.CharField(max_length=64, null=True, db_index=True)
    bound_at = fields.DatetimeField(null=True)
    # How the binding was proven: "face" (WeChat face verification) or "counter" (ID card checked by hall
    # staff); None for a self-declared binding from before, which stays unverified.
    verified_by = fields.CharField(max_length=16, null=True)
    verified_at = fields.DatetimeField(null=True)
    claimed_id_hash = fields.CharField(max_length=64, null=True, db_index=True)
    suspended_until = fields.DatetimeField(null=True)

    class Meta:
        table = "citizen"
