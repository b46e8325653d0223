"""The `rotate-root` path: replace the engine's own client secret, as Vault's Azure engine does.

Order matters so that a failure at any step leaves a working engine: add a new secret
to the engine's application, wait until Entra issues a token with it (new secrets take
a while to propagate), store it, and only then remove the old one. Until the new secret
is stored the old one stays in use; a new secret that never worked is removed again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from mount.sdk import (
    FieldData,
    InvalidRequestError,
    Operation,
    Path,
    Request,
    Response,
    UpstreamError,
)
from plugin.graph import GraphApplication, GraphClient, GraphError
from plugin.graph.models import GraphPasswordCredential
from plugin.models import CONFIG_KEY, Config
from plugin.token import TokenError, TokenProvider

if TYPE_CHECKING:
    from plugin.backend import Clients, EntraBackend

__all__ = ["DEFAULT_ACCEPT_DEADLINE", "paths", "rotate_root"]

logger = logging.getLogger(__name__)

# Seconds to wait for Entra to accept the new secret; Microsoft documents propagation of
# up to a few minutes in rare cases, a few seconds typically.
DEFAULT_ACCEPT_DEADLINE = 120.0
# What Entra answers while a new secret has not reached every replica yet.
_NOT_YET_PROPAGATED = frozenset({"7000215"})
_MARKER = "entra-broker rotate-root"


def paths(b: EntraBackend) -> list[Path]:
    return [
        Path(
            "rotate-root",
            operations={Operation.UPDATE: partial(rotate_root, b)},
            help_synopsis=ROTATE_HELP_SYN,
            help_description=ROTATE_HELP_DESC,
        )
    ]


async def rotate_root(b: EntraBackend, req: Request, d: FieldData) -> Response | None:
    async with b.rotate_lock:
        return await _rotate(b, req)


async def _rotate(b: EntraBackend, req: Request) -> Response:
    config = await b.require_config(req.storage)
    if config.client_certificate:
        raise InvalidRequestError(
            "rotate-root replaces the engine's client secret, but the engine signs in with "
            "client_certificate; rotate the certificate by uploading a new one to the "
            "application and writing it to config"
        )
    graph = await b.graph(config)
    app = await graph.get_application(f"appId={config.client_id}")
    old_key_id, why_unknown = _current_key_id(config, app)
    created = await _add_secret(graph, app, config)
    clients = await _switch_to(b, req, config, graph, app, created)
    await b.install_clients(clients)

    warning = await _remove_old(clients.graph, app, old_key_id, why_unknown)
    warnings = [warning] if warning else []
    logger.info(
        "root credential rotated client_id=%s key_id=%s old_key_id=%s old_removed=%s",
        config.client_id,
        created.key_id,
        old_key_id or "unknown",
        bool(old_key_id) and not warnings,
    )
    data: dict[str, Any] = {"key_id": created.key_id, "end_date_time": created.end_date_time}
    return Response(data=data, warnings=warnings)


async def _add_secret(
    graph: GraphClient, app: GraphApplication, config: Config
) -> GraphPasswordCredential:
    """A new client secret on the engine's application, named so it can be found again."""
    stamp = datetime.now(UTC)
    marker = f"{_MARKER} {stamp.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    try:
        return await graph.add_password(
            app.object_id, display_name=marker, end_date_time=stamp + config.root_password_ttl
        )
    except GraphError as exc:
        if exc.may_have_applied:
            # The secret may exist though we never saw it: nobody can use it, remove it.
            await _remove_marked(graph, app.object_id, marker)
        raise


async def _switch_to(
    b: EntraBackend,
    req: Request,
    config: Config,
    graph: GraphClient,
    app: GraphApplication,
    created: GraphPasswordCredential,
) -> Clients:
    """Clients on the new secret once Entra accepts it, and the config stored with it;
    on any failure the new secret is removed again and the engine keeps the old one."""
    new_config = dataclasses.replace(
        config, client_secret=created.secret_text, client_secret_key_id=created.key_id
    )
    clients = await b.build_clients(new_config)
    try:
        await _wait_until_accepted(clients.tokens, b.rotate_accept_deadline)
        if await b.load_config(req.storage) != config:
            raise InvalidRequestError(
                "config was written while rotate-root ran; the rotation was abandoned, "
                "run rotate-root again"
            )
        await b.records.put(req.storage, CONFIG_KEY, new_config.to_storage())
    except BaseException as exc:
        await clients.aclose()
        removed = await _remove_quietly(graph, app.object_id, created.key_id)
        logger.warning(
            "rotate-root abandoned client_id=%s new_key_id=%s removed=%s error=%s",
            config.client_id,
            created.key_id,
            removed,
            type(exc).__name__,
        )
        if isinstance(exc, TokenError):
            raise UpstreamError(
                f"Entra did not accept the new client secret (keyId {created.key_id}) within "
                f"{b.rotate_accept_deadline:g}s: {exc.message}. The engine keeps using its "
                "current client secret; the new one was "
                + ("removed" if removed else "left on the application: remove it by hand"),
                retryable=True,
            ) from None
        raise
    return clients


async def _remove_old(
    graph: GraphClient, app: GraphApplication, old_key_id: str, why_unknown: str
) -> str:
    """Remove the secret the engine used before; a warning when it was not, else ""."""
    if not old_key_id:
        return (
            f"the new client secret is in use; the old one was left on the application "
            f"because {why_unknown}: remove it from the application's Certificates & secrets "
            "once nothing else uses it"
        )
    try:
        await graph.remove_password(app.object_id, old_key_id)
    except GraphError as exc:
        return (
            f"the new client secret is in use, but the old one (keyId {old_key_id}) could "
            f"not be removed: {exc}; remove it from the application's Certificates & "
            "secrets"
        )
    return ""


def _current_key_id(config: Config, app: GraphApplication) -> tuple[str, str]:
    """(keyId of the secret in use, "") or ("", why it is unknown).

    rotate-root records the keyId of each secret it makes. For a secret written by hand,
    Graph's hint (the secret's first characters) identifies it when exactly one key has
    that hint; a key the broker made for a role's lease is never taken for it.
    """
    known = config.client_secret_key_id.lower()
    if known:
        if known in app.password_key_ids:
            return known, ""
        return "", f"its keyId {known} is no longer on the application"
    hint = config.client_secret[:3]
    names = dict(app.passwords)
    matches = [
        key_id
        for key_id, key_hint in app.password_hints.items()
        if hint
        and key_hint
        and key_hint == hint[: len(key_hint)]
        and not names.get(key_id, "").startswith("entra-broker ")
    ]
    if len(matches) == 1:
        return matches[0], ""
    if not matches:
        return "", "no key of the application matches the configured secret"
    return "", f"{len(matches)} keys of the application match the configured secret's hint"


async def _wait_until_accepted(tokens: TokenProvider, seconds: float) -> None:
    """Return once Entra issues a token for the new secret; TokenError at the deadline."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    pause = 0.2
    while True:
        try:
            await tokens.token()
            return
        except TokenError as exc:
            waiting = exc.aadsts in _NOT_YET_PROPAGATED or exc.retryable
            if not waiting or loop.time() + pause > end:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 5.0)


async def _remove_quietly(graph: GraphClient, object_id: str, key_id: str) -> bool:
    """removePassword; False (logged) when Graph refuses, for cleanup after a failure."""
    try:
        await graph.remove_password(object_id, key_id)
    except GraphError as exc:
        logger.warning("rotate-root cleanup failed key_id=%s status=%s", key_id, exc.graph_status)
        return False
    return True


async def _remove_marked(graph: GraphClient, object_id: str, marker: str) -> None:
    try:
        app = await graph.get_application(object_id)
    except GraphError:
        logger.warning("rotate-root cleanup could not read the application")
        return
    for key_id, name in app.passwords:
        if name == marker:
            await _remove_quietly(graph, object_id, key_id)


ROTATE_HELP_SYN = "Replace the client secret the engine signs in with."
ROTATE_HELP_DESC = """\
Adds a new client secret to the engine's own application (found by client_id), waits
until Entra issues a token with it, stores it, then removes the old secret. The new
secret is valid for root_password_ttl (config; default 182 days). Only the broker
knows the new secret afterwards.

The application needs Application.ReadWrite.OwnedBy (and to be an owner of itself) or
Application.ReadWrite.All. If anything fails before the new secret is stored, the old
one stays in use and the new one is removed. If the old secret cannot be removed (or
its keyId is unknown because it was written by hand and cannot be identified), the
response carries a warning and the old secret stays valid until removed by hand.
Grant this path (update) to operators only.
"""
