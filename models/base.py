"""Shared model bits.

Model docstrings become table comments, and Tortoise's migration runner splits SQL on semicolons:
keep semicolons out of model docstrings (tests/core/test_migrations.py catches it).
"""

from tortoise import fields
from tortoise.models import Model


class TimestampedModel(Model):
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        abstract = True
