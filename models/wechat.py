"""Public-account followers as WeChat reports them (subscribe / unsubscribe events)."""

from tortoise import fields
from tortoise.models import Model


class WeChatFollower(Model):
    id = fields.BigIntField(primary_key=True)
    openid = fields.CharField(max_length=64, unique=True)
    subscribed = fields.BooleanField(default=True)
    subscribed_at = fields.DatetimeField(null=True)
    unsubscribed_at = fields.DatetimeField(null=True)
    # Scene of the QR code the user followed through (e.g. a hall's check-in code), if any.
    scene = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "wechat_follower"
