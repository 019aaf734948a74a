"""Chatbot core: FAQ retrieval, intents and dialog context (no web server)."""

from .dialog import Dialog
from .engine import Bot, BotReply, DataError

__all__ = ["Bot", "BotReply", "DataError", "Dialog"]
