"""RS256 signing for the emulator's ID tokens, and its keys in Google's v1 (PEM) and v3 (JWKS) formats."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import secrets
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def at_hash(access_token: str) -> str:
    # OpenID Connect Core 3.1.3.6: left half of SHA-256 of the access token.
    return b64url(hashlib.sha256(access_token.encode()).digest()[:16])


class Signer:
    """One RSA key with a `kid`, as Google rotates them: sign JWTs, publish the public half."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(20)
        self.certificate = _self_signed(self.key)

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        signing_input = f"{_segment(header)}.{_segment(claims)}".encode()
        signature = self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input.decode()}.{b64url(signature)}"

    def pem_certs(self) -> dict[str, str]:
        return {self.kid: self.certificate.public_bytes(serialization.Encoding.PEM).decode()}

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        jwk = {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": b64url(numbers.e.to_bytes(3, "big")),
        }
        return {"keys": [jwk]}


def service_account(base: str, project_id: str, name: str) -> tuple[dict[str, Any], bytes]:
    """A service-account JSON as the console downloads it (its token_uri this emulator), and the public half
    of its key, which the emulator keeps to check what the account signs."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": private.decode(),
        "client_email": f"{name}-{secrets.token_hex(3)}@{project_id}.iam.gserviceaccount.com",
        "client_id": str(secrets.randbelow(10**21)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": f"{base}/token",
        "universe_domain": "googleapis.com",
    }
    return info, public


def _segment(obj: dict[str, Any]) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def _self_signed(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "emulator.googleapis.test")])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .sign(key, hashes.SHA256())
    )
