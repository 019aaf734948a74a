"""Tortoise config for its own CLI (makemigrations); the app builds the same dict from Settings."""

from config.settings import load_settings

TORTOISE_ORM = load_settings().tortoise_config()
