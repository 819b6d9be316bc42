"""Secret keys handed to devices and client systems: shown once, stored as SHA-256 hashes.

The keys are 256-bit random tokens, so a plain SHA-256 suffices (unlike passwords, they
need no stretching: there is nothing to guess).
"""

from __future__ import annotations

import hashlib
import secrets


def new_key() -> str:
    """A fresh random key (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()
