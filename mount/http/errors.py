"""The one place where exceptions become Vault's `{"errors": [...]}` responses."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from mount.http.envelope import BodyTimeoutError, error_response
from mount.sdk.errors import InvalidRequestError, VaultError

__all__ = ["error_middleware"]

logger = logging.getLogger(__name__)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Typed errors keep their status and message; anything else is a logged, generic 500."""
    try:
        return await handler(request)
    except BodyTimeoutError as exc:
        # Answered at once, then the connection closes: the rest of a stalled body is
        # not waited for (aiohttp would linger 10 s reading it), as in Go.
        response = error_response(exc)
        response.force_close()
        await response.prepare(request)
        await response.write_eof()
        request.protocol.force_close()
        return response
    except VaultError as exc:
        return error_response(exc)
    except web.HTTPRequestEntityTooLarge:
        too_large = VaultError(
            f"request body is larger than the {request.client_max_size} bytes allowed; "
            "send a smaller body"
        )
        too_large.status = 413
        return error_response(too_large)
    except web.HTTPException:
        raise
    except UnicodeDecodeError:
        return error_response(InvalidRequestError("the request is not valid UTF-8"))
    except Exception:
        # The traceback goes to the log only: clients get no internals.
        logger.exception("internal error method=%s path=%s", request.method, request.path)
        return error_response(VaultError("internal error; the server log has the details"))
