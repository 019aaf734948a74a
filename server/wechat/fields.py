"""Subscribe-message field values fitted to WeChat's per-type rules.

WeChat refuses a whole message (47003) when one field breaks its type's rule ("订阅消息参数值内容限制说明",
subscribeMessage.send): the type is the key without its number (thing1 -> thing). Free text is clipped to
its type's length here; values with a fixed form (time, date, phrase) must be built in that form by the caller.
"""

from __future__ import annotations

# Characters per value, by field type.
LIMITS = {"thing": 20, "character_string": 32, "number": 32, "letter": 32, "symbol": 5, "phrase": 5,
          "name": 10, "phone_number": 17, "car_number": 8}


def field_type(key: str) -> str:
    """Return the WeChat type of a template field key ("thing12" -> "thing")."""
    return key.rstrip("0123456789")


def fit(key: str, text: str) -> str:
    """Clip a field value to the length its type allows."""
    limit = LIMITS.get(field_type(key))
    return text[:limit] if limit else text
