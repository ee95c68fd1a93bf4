"""The node's device identity for OpenClaw: an Ed25519 key kept on disk.

The key is made on first start and kept (mode 0600) so the gateway's pairing
survives restarts. The device id is the SHA-256 of the raw public key. The
device token the gateway issues in ``hello-ok`` is kept beside it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["DeviceIdentity", "b64url"]

log = logging.getLogger("nodetool.gateway.identity")


def b64url(data: bytes) -> str:
    """Base64url without padding, as OpenClaw writes keys and signatures."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _write_private(path: Path, text: str) -> None:
    # Created 0600 from the start: the key is never readable by others, even briefly.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class DeviceIdentity:
    """An Ed25519 key pair on disk, and the device token issued for it."""

    def __init__(self, path: Path, key: Ed25519PrivateKey):
        self.path = path
        self._key = key
        raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        self.public_key = b64url(raw)
        self.device_id = hashlib.sha256(raw).hexdigest()

    @classmethod
    def for_config(cls, cfg: Any) -> "DeviceIdentity":
        """The node's identity: ``gateway.openclaw.identity_path``, or one in its storage."""
        path = cfg.gateway.openclaw.identity_path
        return cls.load_or_create(
            Path(path) if path else Path(cfg.storage.path).expanduser() / "openclaw" / "device.json")

    @classmethod
    def load_or_create(cls, path: str | Path) -> "DeviceIdentity":
        """Read the key at ``path``, or make one and keep it there (mode 0600)."""
        path = Path(path).expanduser()
        if path.exists():
            data = json.loads(path.read_text())
            key = serialization.load_pem_private_key(data["privateKeyPem"].encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path}: not an Ed25519 key")
            if path.stat().st_mode & 0o077:
                log.warning("%s is readable by other users; it should be mode 0600", path)
            return cls(path, key)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        identity = cls(path, key)
        _write_private(path, json.dumps({"version": 1, "deviceId": identity.device_id,
                                         "publicKey": identity.public_key,
                                         "privateKeyPem": pem}, indent=2))
        log.info("created device identity %s at %s", identity.device_id[:12], path)
        return identity

    def sign(self, payload: str) -> str:
        """Ed25519 signature of the UTF-8 payload, base64url without padding."""
        return b64url(self._key.sign(payload.encode("utf-8")))

    # The device token issued by the gateway (hello-ok.auth.deviceToken).

    @property
    def token_path(self) -> Path:
        return self.path.with_name("device-token.json")

    def device_token(self, gateway: str) -> str | None:
        """The token this gateway issued to this device, if one is kept."""
        try:
            data = json.loads(self.token_path.read_text())
        except (OSError, ValueError):
            return None
        entry = data.get("tokens", {}).get(gateway)
        return entry.get("token") if isinstance(entry, dict) else None

    def _read_tokens(self) -> dict:
        try:
            data = json.loads(self.token_path.read_text())
        except (OSError, ValueError):
            data = {}
        data.setdefault("version", 1)
        data.setdefault("tokens", {})
        return data

    def store_device_token(self, gateway: str, token: str | None, **extra) -> None:
        """Keep (or, with None, forget) the token a gateway issued."""
        data = self._read_tokens()
        tokens = data["tokens"]
        if token is None:
            if tokens.pop(gateway, None) is None:
                return
        else:
            if tokens.get(gateway, {}).get("token") == token:
                return
            tokens[gateway] = {**tokens.get(gateway, {}), "token": token, **extra}
        _write_private(self.token_path, json.dumps(data, indent=2))

    def approved_commands(self, gateway: str) -> str | None:
        """Digest of the command set this gateway's operator last approved, if seen."""
        return self._read_tokens()["tokens"].get(gateway, {}).get("approvedCommands")

    def store_approved_commands(self, gateway: str, digest: str) -> None:
        data = self._read_tokens()
        entry = data["tokens"].setdefault(gateway, {})
        if entry.get("approvedCommands") != digest:
            entry["approvedCommands"] = digest
            _write_private(self.token_path, json.dumps(data, indent=2))
