"""The Ed25519 key that signs audit checkpoints, and the exact bytes it signs.

The private key lives in one PEM file (``AUDIT_SIGNING_KEY_FILE``, from
``BLOCKLIST_AUDIT_SIGNING_KEY_FILE``, default ``instance/audit-signing-key.pem``), the same file on
every node, so a checkpoint signed on one node verifies on all of them. It is made once, by the
operator, with ``flask --app wsgi audit keygen`` (mode 0600; ``scripts/start.sh`` runs it with
``--if-missing`` for the embedded default) and then only read: nothing that serves requests ever
creates it, and the server refuses to start without it (``deploy/gunicorn.conf.py`` calls
`require_key`). A key that is missing or unreadable when a request needs it is a 503 problem,
never a 500. The public key is published so anyone can check a checkpoint. After a rotation the
earlier public keys (``AUDIT_RETIRED_PUBLIC_KEYS``, from ``BLOCKLIST_AUDIT_RETIRED_PUBLIC_KEYS``:
PEM files, comma-separated) keep older checkpoints verifiable; checkpoints name their key by
``key_id``.
"""

from __future__ import annotations

import base64
import datetime as dt
import errno
import hashlib
import json
import logging
import os
import struct
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import Flask, current_app, has_request_context

from ..config import current_settings, settings_of
from ..exceptions import Unavailable

ALGORITHM = "Ed25519"
KEYGEN_HINT = "create it once with `flask --app wsgi audit keygen` and give every node the same file"
log = logging.getLogger(__name__)


class SigningKeyError(Exception):
    """The configured signing key file cannot be used; the message names the file and why."""


class SigningKeyUnavailable(Unavailable):
    """A request needs the signing key and the server has none it can read (503)."""


def key_path(app: Flask | None = None) -> Path:
    return Path(settings_of(app or current_app).audit_signing_key_file)


def generate_key(path: Path) -> None:
    """Write a new key to `path` with mode 0600, atomically (readers never see half a file).

    Raises FileExistsError when `path` already exists (a key is never overwritten: rotating it
    means keeping the old public key, see deploy/README.md) and OSError when it cannot be
    written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file where the directory should be
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path.parent)) from None
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        os.link(tmp, path)  # fails if the key exists, also when another process made it first
    finally:
        tmp.unlink(missing_ok=True)


def load_key(path: Path) -> Ed25519PrivateKey:
    """The private key in `path`; raises SigningKeyError saying what is wrong with the file."""
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise SigningKeyError(f"audit signing key {path} does not exist: {KEYGEN_HINT}") from None
    except OSError as error:
        raise SigningKeyError(f"audit signing key {path} cannot be read: {error.strerror or error}") from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise SigningKeyError(f"audit signing key {path} is not an unencrypted PEM private key: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"audit signing key {path} does not hold an Ed25519 private key")
    return key


def require_key(app: Flask) -> str:
    """Load `app`'s signing key (start-up check); return its key_id or raise SigningKeyError."""
    key = load_key(key_path(app))
    app.extensions.setdefault("blocklist_audit_keys", {})[str(key_path(app))] = key
    return key_id(key.public_key())


def private_key() -> Ed25519PrivateKey:
    """The signing key for the current app, read once per path and cached; never created here.

    Raises SigningKeyUnavailable (503) when the file is missing or unusable; the log says which
    file and why, the problem does not (the public-key route answers anyone)."""
    path = key_path()
    cache = current_app.extensions.setdefault("blocklist_audit_keys", {})
    key = cache.get(str(path))
    if key is None:
        try:
            key = load_key(path)
        except SigningKeyError as error:
            if has_request_context():  # a CLI says it itself (audit/cli.py)
                log.error("%s", error)
            raise SigningKeyUnavailable(
                "The audit signing key is not configured on this server; the operator must provide it "
                "(BLOCKLIST_AUDIT_SIGNING_KEY_FILE, see deploy/README.md).",
                headers={"Retry-After": "300"},
            ) from None
        cache[str(path)] = key
    return key


def public_key() -> Ed25519PublicKey:
    return private_key().public_key()


def verification_keys() -> dict[str, Ed25519PublicKey]:
    """key_id -> public key: the current key and every retired one."""
    keys = {}
    for path in current_settings().audit_retired_public_keys:
        try:
            key = serialization.load_pem_public_key(Path(path).read_bytes())
        except (OSError, ValueError) as error:
            log.error("retired audit public key %s cannot be used: %s", path, error)
            raise SigningKeyUnavailable(
                "A retired audit public key configured on this server cannot be read (see the server log)."
            ) from None
        if not isinstance(key, Ed25519PublicKey):
            log.error("retired audit public key %s does not hold an Ed25519 public key", path)
            raise SigningKeyUnavailable("A retired audit public key configured on this server is not an Ed25519 key.")
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


def tree_head_message(tree_size: int, timestamp: int, root_hash: bytes) -> bytes:
    """The bytes a tree head's signature covers: RFC 9162's TreeHeadDataV2 (timestamp and
    tree_size as uint64, the root hash with a 1-byte length, an empty 2-byte-length extension
    list), big-endian."""
    return struct.pack(">QQB", timestamp, tree_size, len(root_hash)) + root_hash + b"\x00\x00"


def raw_public_key(key: Ed25519PublicKey | None = None) -> str:
    """The raw 32-byte public key in hex (what tree-head verifiers and bundles use)."""
    key = key or public_key()
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
