"""Subject keys: the pseudonym of a person in the audit chain and the request store, an
HMAC of the normalised identifier with a secret the database never sees."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

__all__ = ["SubjectKeyer"]


class SubjectKeyer:
    """Keyed hash of a normalised identifier (HMAC-SHA256, hex)."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("the subject key secret must be at least 16 characters")
        self._secret = secret.encode()

    def key(self, identifier: str) -> str:
        normal = unicodedata.normalize("NFKC", identifier).strip().casefold()
        return hmac.new(self._secret, normal.encode(), hashlib.sha256).hexdigest()
