"""Encryption of secrets at rest (Fernet, keys from settings.BORGUI_ENCRYPTION_KEYS)."""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(ValueError):
    """A stored secret cannot be decrypted with the configured keys."""


@cache
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def _fernet() -> MultiFernet:
    # Keyed on the settings value so tests that override the keys get a matching cipher.
    return _fernet_for(tuple(settings.BORGUI_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeEncodeError):
        raise SecretUnreadable(
            "a stored secret cannot be decrypted: BORGUI_ENCRYPTION_KEY is not the key it "
            "was saved with (keep the old key after the new one, comma-separated, to rotate)"
        ) from None


def is_current(token: str) -> bool:
    """Whether TOKEN is encrypted with the first (current) key."""
    try:
        Fernet(settings.BORGUI_ENCRYPTION_KEYS[0]).decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        return False
    return True


def rotate(token: str) -> str:
    """TOKEN re-encrypted with the first key; SecretUnreadable if no configured key opens it."""
    try:
        return _fernet().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeEncodeError):
        raise SecretUnreadable("cannot be decrypted with any configured key") from None
