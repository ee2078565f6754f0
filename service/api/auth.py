"""API keys for the knowledge-base endpoints: ``Authorization: Bearer <key>`` (or ``X-API-Key``).

* Write endpoints always need a key from ``settings.api_keys``. No key sent: 401. A key that is
  not one of them: 403. No keys configured at all: writes are disabled, 403 saying how to enable
  them (``ZHIWEN_API_KEYS``).
* Read endpoints are open unless ``settings.read_api_keys_required``; then the same rules apply.

Keys are compared with ``hmac.compare_digest`` against every configured key, without stopping at
the first match, so the response time says nothing about how much of a key was right.

Scoped keys (``ZHIWEN_KEYS_FILE``, TOML) may read and/or write only the knowledge bases they name;
the file holds SHA-256 digests, never keys::

    [[key]]
    sha256 = "<hex digest of the key>"
    read = ["alpha"]          # knowledge bases it may read ("*": all)
    write = ["alpha"]         # and write (writing implies reading)

A request names its knowledge base with ``?kb=`` (``default`` without). ``ZHIWEN_API_KEYS`` keys
may do everything, including creating and deleting knowledge bases; a scoped key used on a
knowledge base it does not name gets 403 saying so.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.api.deps import SettingsDep
from service.api.errors import ApiError
from zhiwen.settings import Settings

log = logging.getLogger(__name__)

# Only documents the scheme in OpenAPI (and gives /docs its "Authorize" button); the checks
# below read the headers themselves so both spellings work and errors keep our body.
_bearer = HTTPBearer(auto_error=False, description="One of ZHIWEN_API_KEYS")

DISABLED = (
    "write endpoints are disabled: no API keys are configured "
    "(set ZHIWEN_API_KEYS to a comma-separated list of keys and restart)"
)


def presented_key(request: Request) -> str | None:
    """The key the client sent: ``Authorization: Bearer <key>``, else ``X-API-Key``."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    key = request.headers.get("x-api-key", "").strip()
    return key or None


def key_matches(key: str, settings: Settings) -> bool:
    """Whether ``key`` is one of the configured keys (constant time in the key's content)."""
    presented = key.encode("utf-8", "surrogateescape")
    found = False
    for allowed in settings.api_keys:
        found |= hmac.compare_digest(presented, allowed.get_secret_value().encode("utf-8"))
    return found


@dataclass(frozen=True)
class ScopedKey:
    sha256: bytes
    read: frozenset[str]
    write: frozenset[str]

    def allows(self, what: str, kb: str) -> bool:
        scope = self.write if what == "write" else self.read | self.write
        return kb in scope or "*" in scope


_scoped_cache: dict[Path, tuple[float, tuple[ScopedKey, ...]]] = {}


def scoped_keys(settings: Settings) -> tuple[ScopedKey, ...]:
    """The keys of ``ZHIWEN_KEYS_FILE`` (read again when the file changes); a file that cannot be
    read or holds a malformed entry is an error naming it, logged, and grants nothing."""
    path = settings.keys_file
    if path is None:
        return ()
    path = Path(path)
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        log.error("ZHIWEN_KEYS_FILE %s cannot be read (%s): no scoped key is accepted", path, exc)
        return ()
    cached = _scoped_cache.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    try:
        entries = tomllib.loads(path.read_text(encoding="utf-8")).get("key", [])
        keys = tuple(ScopedKey(bytes.fromhex(str(e["sha256"])), frozenset(map(str, e.get("read", []))),
                               frozenset(map(str, e.get("write", [])))) for e in entries)
        if any(len(k.sha256) != 32 for k in keys):
            raise ValueError("sha256 must be 64 hex digits")
    except (OSError, ValueError, KeyError, TypeError, tomllib.TOMLDecodeError) as exc:
        log.error("ZHIWEN_KEYS_FILE %s is malformed (%s): no scoped key is accepted", path, exc)
        keys = ()
    _scoped_cache[path] = (mtime, keys)
    return keys


def scoped_key(key: str, settings: Settings) -> ScopedKey | None:
    """The scoped key ``key`` is (its digest compared with every entry in constant time)."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
    found = None
    for entry in scoped_keys(settings):
        if hmac.compare_digest(digest, entry.sha256):
            found = entry
    return found


def requested_kb(request: Request) -> str:
    """The knowledge base a request is about: ``?kb=``, else ``default``."""
    return request.query_params.get("kb") or "default"


def check_key(request: Request, settings: Settings, *, what: str, kb: str = "default",
              global_only: bool = False) -> None:
    """401 without a key, 403 with a wrong one or one not scoped to ``kb``, 403 when no keys are
    configured. ``global_only``: only a ``ZHIWEN_API_KEYS`` key will do (managing knowledge bases)."""
    if not settings.api_keys and not scoped_keys(settings):
        message = DISABLED if what == "write" else (
            "reads require an API key but none are configured (set ZHIWEN_API_KEYS)"
        )
        raise ApiError(403, "forbidden", message)
    key = presented_key(request)
    if key is None:
        raise ApiError(
            401,
            "unauthorized",
            f"an API key is required for {what} endpoints: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if key_matches(key, settings):
        return
    entry = scoped_key(key, settings)
    if entry is None:
        log.warning("rejected a %s request with an invalid API key from %s", what,
                    request.client.host if request.client else "?")
        raise ApiError(403, "forbidden", "the API key is not valid")
    if global_only:
        raise ApiError(403, "forbidden", "only a ZHIWEN_API_KEYS key may create or delete knowledge bases")
    if not entry.allows(what, kb):
        raise ApiError(403, "forbidden", f"this API key may not {what} knowledge base {kb[:50]!r}")


def require_write_key(
    request: Request,
    settings: SettingsDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> None:
    check_key(request, settings, what="write", kb=requested_kb(request))


def require_admin_key(
    request: Request,
    settings: SettingsDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> None:
    check_key(request, settings, what="write", global_only=True)


def require_read_key(request: Request, settings: SettingsDep) -> None:
    # not declared as a security scheme: reads are open by default, and a schema that claims
    # auth where none is enforced misleads clients (and schemathesis' ignored_auth check)
    if settings.read_api_keys_required:
        check_key(request, settings, what="read", kb=requested_kb(request))


def may_see_details(request: Request, settings: Settings) -> bool:
    """Whether ``/readyz`` may show the index's details: reads are open, or the request carries a
    valid key. Without a key it still says ready or not (for load balancers); a key that is sent
    but wrong is refused (403), as on every read endpoint."""
    if not settings.read_api_keys_required:
        return True
    if presented_key(request) is None:
        return False
    check_key(request, settings, what="read")
    return True


def readable_kbs(request: Request, settings: Settings) -> Callable[[str], bool]:
    """Which knowledge bases the caller may read, for listings (GET /v1/kbs): a ZHIWEN_API_KEYS
    key, every one; a scoped key, those its ``read``/``write`` name; no key, every one while
    reads are open (anyone may read them all then) and 401 when they are not. A key that is no
    key is 403 when reads need keys, and counts as no key while they are open (as on every other
    read). ``?kb=`` plays no part: a listing is not about one knowledge base."""
    key = presented_key(request)
    if key is not None and key_matches(key, settings):
        return lambda name: True
    entry = scoped_key(key, settings) if key is not None else None
    if entry is not None:
        return lambda name: entry.allows("read", name)
    if settings.read_api_keys_required:
        check_key(request, settings, what="read")  # raises: no key (401) or not a key (403)
    return lambda name: True


WriteKey = Depends(require_write_key)
AdminKey = Depends(require_admin_key)
ReadKey = Depends(require_read_key)
