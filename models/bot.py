"""Chatbot statistics: questions the bot could not answer well, and users' votes on answers."""

from tortoise import fields
from tortoise.models import Model


class BotMiss(Model):
    """A question (normalised) that fell back or got only suggestions, with how often it was asked."""

    id = fields.BigIntField(primary_key=True)
    question = fields.CharField(max_length=255, unique=True)
    count = fields.IntField(default=1)
    last_kind = fields.CharField(max_length=16)  # fallback | suggest
    last_score = fields.FloatField(default=0.0)
    first_seen = fields.DatetimeField(auto_now_add=True)
    last_seen = fields.DatetimeField(db_index=True)

    class Meta:
        table = "bot_miss"


class BotFeedback(Model):
    """One user's vote on whether a knowledge-base answer helped."""

    id = fields.BigIntField(primary_key=True)
    entry_id = fields.CharField(max_length=64, db_index=True)
    helpful = fields.BooleanField()
    channel = fields.CharField(max_length=8)  # oa (public account) | mp (mini-program)
    question = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "bot_feedback"
