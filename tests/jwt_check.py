"""Check an RS256 JWT against the private key whose public half should have signed it (test servers)."""

from __future__ import annotations

import base64
import json


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def valid(token: str, private_key_pem: str, issuer: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        head, body, sig = token.split(".")
        claims = json.loads(_b64(body))
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None).public_key()
        key.verify(_b64(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except (ValueError, InvalidSignature):
        return False
    return claims.get("iss") == issuer
