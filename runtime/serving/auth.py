"""API-key authentication of the inference routes.

When the server is given a keys file (``MLOPS_API_KEYS_FILE``: one key per line, or ``sha256:<hex>`` of one;
on the cluster a Secret mounted read-only), every ``POST`` to ``/v2/models/.../infer`` and
``/v1/models/...:predict`` needs one of them as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``;
health, metadata and metrics stay open for probes and scrapers. Keys are compared as SHA-256 digests in
constant time. The file is read again when it changes (a rotated Secret), and a file that cannot be read or
holds no key refuses every inference request rather than opening the routes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
from pathlib import Path

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ApiKeyAuth", "load_key_digests"]

log = logging.getLogger(__name__)

_PROTECTED = re.compile(r"^/v2/models/[^/]+(?:/versions/[^/]+)?/infer$|^/v1/models/[^/:]+:predict$")
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
_MISSING = (-1, -1)
"""The file's stamp while it cannot be read."""


def load_key_digests(path: Path) -> list[bytes]:
    """SHA-256 digests of the keys in ``path`` (blank lines and ``#`` comments ignored)."""
    digests: list[bytes] = []
    for line in path.read_text().splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        match = _DIGEST.match(entry)
        digests.append(bytes.fromhex(match.group(1)) if match else hashlib.sha256(entry.encode()).digest())
    return digests


class ApiKeyAuth:
    """ASGI middleware: inference routes answer 401 without a valid key."""

    def __init__(self, app: ASGIApp, keys_file: str) -> None:
        self.app = app
        self.path = Path(keys_file)
        self._stamp: tuple[int, int] | None = None
        self._digests: list[bytes] = []
        self._refresh()

    def _refresh(self) -> None:
        try:
            stat = os.stat(self.path)
        except OSError as exc:
            if self._stamp != _MISSING:  # said once per change, not once per request
                log.error("API keys file %s cannot be read (%s): inference requests are refused", self.path, exc)
            self._stamp, self._digests = _MISSING, []
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        try:
            self._digests = load_key_digests(self.path)
        except (OSError, UnicodeDecodeError) as exc:
            log.error("API keys file %s cannot be read (%s): inference requests are refused", self.path, exc)
            self._digests = []
        self._stamp = stamp
        if not self._digests:
            log.error("API keys file %s holds no key: inference requests are refused", self.path)

    def allowed(self, scope: Scope) -> bool:
        """Whether the request carries one of the keys (re-reading the file when it changed)."""
        self._refresh()
        presented = None
        for name, value in scope.get("headers", []):
            if name == b"x-api-key":
                presented = value.strip()
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                presented = value[7:].strip()
        if not presented:
            return False
        digest = hashlib.sha256(presented).digest()
        return any(hmac.compare_digest(digest, known) for known in self._digests)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _PROTECTED.match(scope["path"]) and not self.allowed(scope):
            body = orjson.dumps(
                {"error": "this route needs an API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"}
            )
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer realm="inference"'),
            ]
            await send({"type": "http.response.start", "status": 401, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
