"""Passwords (Argon2id via argon2-cffi), session tokens and CSRF tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# Argon2id; memory/time a little under the library default so a login costs ~20 ms on a
# small server (RFC 9106 "second recommended option" is 64 MiB, t=3; we keep 19 MiB, t=2,
# the OWASP minimum for Argon2id).
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    """Return the Argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True if ``password`` matches ``password_hash``."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


_DUMMY_HASH = hash_password("a password nobody has, to spend the same time")


def verify_dummy(password: str) -> None:
    """Spend the time of a real verification (unknown user: no timing oracle)."""
    verify_password(_DUMMY_HASH, password)


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def token_sha256(token: str) -> str:
    """SHA-256 hex of a token (what the database stores)."""
    return hashlib.sha256(token.encode()).hexdigest()


def signed_token(secret: str) -> str:
    """A random token with an HMAC-SHA256 signature by the server secret (``value.sig``)."""
    value = secrets.token_urlsafe(18)
    sig = hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{value}.{sig}"


def check_signed(secret: str, token: str | None) -> bool:
    """True if ``token`` was made by :func:`signed_token` with this secret."""
    if not token or "." not in token:
        return False
    value, sig = token.rsplit(".", 1)
    good = hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]
    return hmac.compare_digest(sig.encode(), good.encode())


def same(a: str | None, b: str | None) -> bool:
    """Constant-time string comparison; False if either is missing."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode(), b.encode())
