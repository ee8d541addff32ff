"""Account rules and secrets: argon2id password hashes (argon2-cffi), session tokens kept as sha256 hashes.

Nothing here logs or stores a password or a token; only their hashes reach the database.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from typing import Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .records import ROLES, StoreError

__all__ = ["MAX_NAME_CHARS", "MIN_PASSWORD_CHARS", "Passwords", "check_name", "check_password", "check_role",
           "new_token", "token_hash"]  # fmt: skip

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024  # argon2 hashes any length; this bounds the work one login can ask for
MAX_NAME_CHARS = 64


def check_name(name: object) -> str:
    """The user name, stripped. Raises StoreError when empty, too long, or with spaces or control characters."""
    if not isinstance(name, str) or not name.strip():
        raise StoreError(f"user name {name!r}: must not be empty")
    name = name.strip()
    if len(name) > MAX_NAME_CHARS:
        raise StoreError(f"user name {name!r}: at most {MAX_NAME_CHARS} characters")
    if any(c.isspace() or unicodedata.category(c).startswith("C") for c in name):
        raise StoreError(f"user name {name!r}: no spaces or control characters")
    return name


def check_role(role: object) -> str:
    if role not in ROLES:
        raise StoreError(f"role {role!r}: choose one of {', '.join(ROLES)}")
    return str(role)


def check_password(password: object) -> str:
    """Raises StoreError (without the password in the message) when it is too short or too long."""
    if not isinstance(password, str):
        raise StoreError(f"password: expected text, got {type(password).__name__}")
    if len(password) < MIN_PASSWORD_CHARS:
        raise StoreError(f"password too short: {len(password)} characters, at least {MIN_PASSWORD_CHARS}")
    if len(password) > MAX_PASSWORD_CHARS:
        raise StoreError(f"password too long: {len(password)} characters, at most {MAX_PASSWORD_CHARS}")
    return password


def new_token() -> str:
    """A random session token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the database keeps of a token: its sha256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Passwords:
    """argon2id hashing with argon2-cffi's default cost. `verify` of an unknown user still hashes once, so
    the time a login takes does not tell whether the name exists."""

    def __init__(self, hasher: Optional[PasswordHasher] = None):
        self._hasher = hasher or PasswordHasher()
        self._dummy: Optional[str] = None

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: Optional[str], password: str) -> bool:
        """True when `password` matches `stored_hash` (None: unknown user, always False)."""
        if not isinstance(password, str) or len(password) > MAX_PASSWORD_CHARS:
            return False
        if stored_hash is None:
            if self._dummy is None:
                self._dummy = self._hasher.hash(new_token())
            stored_hash = self._dummy  # the hash of a random token: never matches, costs the same
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)
