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


class BotEntry(Model):
    """One knowledge-base entry (seeded from bot/data/kb.yaml, then edited by staff through the API)."""

    id = fields.BigIntField(primary_key=True)
    entry_id = fields.CharField(max_length=64, unique=True)
    position = fields.IntField(default=0)  # order of the entries (suggestion lists break ties by it)
    category = fields.CharField(max_length=32, default="")
    question = fields.CharField(max_length=200)
    phrasings = fields.JSONField(default=list)
    keywords = fields.JSONField(default=list)
    answer = fields.TextField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "bot_entry"


class BotDataFile(Model):
    """The text of one of the bot's other data files (intents, synonyms, stop-words, user dictionary)."""

    name = fields.CharField(max_length=64, primary_key=True)
    content = fields.TextField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "bot_data_file"


class BotSeed(Model):
    """What the last `dengji db seed` took from the data files: one row per entry ("entry:<id>") and per other
    data file ("file:<name>"), with its content as seeded and that content's SHA-256.

    The next seed applies only what the files changed since then, so staff edits made through the API to
    anything the files did not change are kept."""

    name = fields.CharField(max_length=128, primary_key=True)
    digest = fields.CharField(max_length=64)
    content = fields.TextField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "bot_seed"
