"""Signing and verification of the emulator's JWTs (access, id and refresh tokens).

Access tokens follow the v1 claim set that Microsoft Graph and Partner Center receive
(`aud`, `iss`, `tid`, `appid`, `appidacr`, `idtyp`, `oid`, `roles` / `scp`, `ver`):
https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference
Keys are published per tenant at `/{tenant}/discovery/v2.0/keys` as the real service does.
"""
from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ACCESS_TOKEN_LIFETIME = 3599
REFRESH_TOKEN_LIFETIME = 90 * 24 * 3600


class SigningKey:
    """One RSA key that signs every token of an emulator instance."""

    def __init__(self, private_pem: bytes | None = None) -> None:
        if private_pem is None:
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            loaded = serialization.load_pem_private_key(private_pem, password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise ValueError("the emulator's signing key must be an RSA key")
            self._key = loaded
        public_der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = _b64url(hashlib.sha1(public_der).digest())  # nosec - a key id, not a security hash

    def private_pem(self) -> bytes:
        """The key in PEM, for the state file."""
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set document (`jwks_uri`)."""
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact JWS of the claims."""
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token this key signed and that is within its lifetime.

        Raises `jwt.InvalidTokenError` (`ExpiredSignatureError`, `InvalidSignatureError`,
        `DecodeError`, ...). Audience and issuer are checked by the service that receives it.
        """
        return jwt.decode(token, self._key.public_key(), algorithms=["RS256"], options={"verify_aud": False})


def new_uti() -> str:
    """A unique token identifier, shaped like the real `uti` claim."""
    return _b64url(uuid.uuid4().bytes)


def client_info(uid: str, utid: str) -> str:
    """The `client_info` value msal uses to build the account's home id."""
    return _b64url(json.dumps({"uid": uid, "utid": utid}).encode())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
