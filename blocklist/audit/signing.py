"""The Ed25519 key that signs audit checkpoints, and the exact bytes it signs.

The private key lives in a PEM file (``AUDIT_SIGNING_KEY_FILE``, from
``BLOCKLIST_AUDIT_SIGNING_KEY_FILE``, default ``instance/audit-signing-key.pem``) and is generated
with mode 0600 on first use. The public key is published so anyone can check a checkpoint.
After a rotation the earlier public keys (``AUDIT_RETIRED_PUBLIC_KEYS``, from
``BLOCKLIST_AUDIT_RETIRED_PUBLIC_KEYS``: PEM files, comma-separated) keep older checkpoints
verifiable; checkpoints name their key by ``key_id``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app

from ..config import current_settings

ALGORITHM = "Ed25519"


def key_path() -> Path:
    return Path(current_settings().audit_signing_key_file)


def _generate(path: Path) -> None:
    """Write a new key to `path` atomically with mode 0600; a concurrent writer's key wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        os.link(tmp, path)  # fails if another process created the key first
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def private_key() -> Ed25519PrivateKey:
    """The signing key for the current app, generated on first use; cached per path."""
    path = key_path()
    cache = current_app.extensions.setdefault("blocklist_audit_keys", {})
    key = cache.get(str(path))
    if key is None:
        if not path.exists():
            _generate(path)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise RuntimeError(f"{path} does not hold an Ed25519 private key")
        cache[str(path)] = key
    return key


def public_key() -> Ed25519PublicKey:
    return private_key().public_key()


def verification_keys() -> dict[str, Ed25519PublicKey]:
    """key_id -> public key: the current key and every retired one."""
    keys = {}
    for path in current_settings().audit_retired_public_keys:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
        if not isinstance(key, Ed25519PublicKey):
            raise RuntimeError(f"{path} does not hold an Ed25519 public key")
        keys[key_id(key)] = key
    current = public_key()
    keys[key_id(current)] = current
    return keys


def public_key_pem(key: Ed25519PublicKey | None = None) -> str:
    key = key or public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_id(key: Ed25519PublicKey | None = None) -> str:
    """First 16 hex digits of the SHA-256 of the raw 32-byte public key."""
    key = key or public_key()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def checkpoint_message(seq: int, head_hash: str, created_at: dt.datetime, key_id: str) -> bytes:
    """The signed bytes: canonical JSON (sorted keys, no spaces, UTF-8) of the checkpoint."""
    payload = {"seq": seq, "head_hash": head_hash, "created_at": created_at.isoformat(), "key_id": key_id}
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign(message: bytes) -> str:
    """Base64 of the Ed25519 signature of `message`."""
    return base64.b64encode(private_key().sign(message)).decode()


def signature_ok(key: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True
