"""Personal data at rest: AES-GCM encryption plus a keyed hash (HMAC) for exact-match lookups."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"dengji", info=purpose).derive(master)


class PiiCipher:
    """Encrypts, decrypts and blind-indexes personal fields with keys derived from one master key."""

    VERSION = "v1"

    def __init__(self, master_key: bytes) -> None:
        self._aead = AESGCM(_derive(master_key, b"pii-encrypt"))
        self._hash_key = _derive(master_key, b"pii-lookup")

    def encrypt(self, plain: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plain.encode(), self.VERSION.encode())
        return f"{self.VERSION}:" + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str) -> str:
        version, _, body = token.partition(":")
        raw = base64.urlsafe_b64decode(body)
        return self._aead.decrypt(raw[:12], raw[12:], version.encode()).decode()

    def digest(self, value: str, *, purpose: str = "") -> str:
        """Keyed hash for lookups: the same value always maps to the same digest, unguessable without the key."""
        return hmac.new(self._hash_key, f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()
