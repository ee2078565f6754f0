"""API keys for the knowledge-base endpoints: ``Authorization: Bearer <key>`` (or ``X-API-Key``).

* Write endpoints always need a key from ``settings.api_keys``. No key sent: 401. A key that is
  not one of them: 403. No keys configured at all: writes are disabled, 403 saying how to enable
  them (``ZHIWEN_API_KEYS``).
* Read endpoints are open unless ``settings.read_api_keys_required``; then the same rules apply.

Keys are compared with ``hmac.compare_digest`` against every configured key, without stopping at
the first match, so the response time says nothing about how much of a key was right.
"""

from __future__ import annotations

import hmac
import logging
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


def check_key(request: Request, settings: Settings, *, what: str) -> None:
    """401 without a key, 403 with a wrong one, 403 when no keys are configured."""
    if not settings.api_keys:
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
    if not key_matches(key, settings):
        log.warning("rejected a %s request with an invalid API key from %s", what,
                    request.client.host if request.client else "?")
        raise ApiError(403, "forbidden", "the API key is not valid")


def require_write_key(
    request: Request,
    settings: SettingsDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> None:
    check_key(request, settings, what="write")


def require_read_key(request: Request, settings: SettingsDep) -> None:
    # not declared as a security scheme: reads are open by default, and a schema that claims
    # auth where none is enforced misleads clients (and schemathesis' ignored_auth check)
    if settings.read_api_keys_required:
        check_key(request, settings, what="read")


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


WriteKey = Depends(require_write_key)
ReadKey = Depends(require_read_key)
