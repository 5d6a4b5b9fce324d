"""Encryption for secrets an admin stores in the database (never SECRET_KEY-derived).

Keys come from PORTAL_FERNET_KEYS (comma-separated, newest first), so a key can be rotated
by putting a new one in front and re-saving; old ciphertexts stay readable meanwhile.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnavailable(Exception):
    """A stored secret cannot be decrypted with the configured keys."""


def _fernet() -> MultiFernet:
    keys = settings.PORTAL_FERNET_KEYS
    if not keys:
        raise ImproperlyConfigured("PORTAL_FERNET_KEYS must be set to store an API key in the database.")
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnavailable("The stored secret cannot be decrypted with PORTAL_FERNET_KEYS.") from None
