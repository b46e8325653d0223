"""OpenBao's `pb.Backend` service: each call routed to its mount's mount.sdk backend."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from goplugin import requests, responses
from goplugin.broker import Broker
from goplugin.mounts import Factory, MountInstance
from goplugin.proto import backend_grpc, backend_pb2
from goplugin.wal import WriteAheadLog
from mount.sdk import (
    Backend,
    FieldData,
    InvalidRequestError,
    NotFoundError,
    Operation,
    Request,
    Response,
    SecretRequest,
    Storage,
    UnsupportedPathError,
    VaultError,
)
from mount.sdk.errors import definitely_failed

if TYPE_CHECKING:
    from grpclib.server import Stream

__all__ = ["BackendService", "MULTIPLEX_ID_KEY"]

logger = logging.getLogger(__name__)

# The metadata key naming the mount of a multiplexed call (pluginutil.MultiplexingCtxKey).
MULTIPLEX_ID_KEY = "multiplex_id"
_SINGLE = "single"
# OpenBao's logical.TypeLogical: a secrets engine.
_TYPE_LOGICAL = 1


def _mount_id(metadata: Mapping[str, Any] | None) -> str:
    value = metadata.get(MULTIPLEX_ID_KEY) if metadata is not None else None
    return str(value) if value else _SINGLE


class BackendService(backend_grpc.BackendBase):
    """One process, one MountInstance per multiplex id."""

    def __init__(self, factory: Factory, broker: Broker) -> None:
        self.factory = factory
        self.broker = broker
        self.mounts: dict[str, MountInstance] = {}
        self._background: set[asyncio.Task[None]] = set()

    def _mount(self, stream: Stream[Any, Any]) -> MountInstance:
        found = self.mounts.get(_mount_id(stream.metadata))
        if found is None:
            raise InvalidRequestError("no backend instance found: the mount was not set up")
        return found

    async def close(self) -> None:
        if self._background:
            await asyncio.wait(self._background, timeout=5)
        mounts, self.mounts = self.mounts, {}
        await asyncio.gather(*(m.close() for m in mounts.values()), return_exceptions=True)

    # -- lifecycle -----------------------------------------------------------------

    async def Setup(self, stream: Stream[backend_pb2.SetupArgs, backend_pb2.SetupReply]) -> None:
        args = await stream.recv_message()
        assert args is not None
        mount_id = _mount_id(stream.metadata)
        old = self.mounts.pop(mount_id, None)
        if old is not None:
            await old.close()
        self.mounts[mount_id] = MountInstance(
            self.factory, self.broker, args.broker_id, args.Config
        )
        logger.debug("setup mount id=%s broker_id=%d", mount_id, args.broker_id)
        await stream.send_message(backend_pb2.SetupReply())

    async def Initialize(
        self, stream: Stream[backend_pb2.InitializeArgs, backend_pb2.InitializeReply]
    ) -> None:
        await stream.recv_message()
        reply = backend_pb2.InitializeReply()
        try:
            self._mount(stream)
        except VaultError as exc:
            reply.err.CopyFrom(responses.error_of(exc))
        await stream.send_message(reply)

    async def Cleanup(self, stream: Stream[backend_pb2.Empty, backend_pb2.Empty]) -> None:
        await stream.recv_message()
        found = self.mounts.pop(_mount_id(stream.metadata), None)
        if found is not None:
            await found.close()
        await stream.send_message(backend_pb2.Empty())

    async def InvalidateKey(
        self, stream: Stream[backend_pb2.InvalidateKeyArgs, backend_pb2.Empty]
    ) -> None:
        # Backends read their records from storage on every request: nothing to drop.
        await stream.recv_message()
        await stream.send_message(backend_pb2.Empty())

    async def Type(self, stream: Stream[backend_pb2.Empty, backend_pb2.TypeReply]) -> None:
        await stream.recv_message()
        await stream.send_message(backend_pb2.TypeReply(type=_TYPE_LOGICAL))

    async def SpecialPaths(
        self, stream: Stream[backend_pb2.Empty, backend_pb2.SpecialPathsReply]
    ) -> None:
        await stream.recv_message()
        paths = backend_pb2.Paths()
        try:
            mount = self._mount(stream)
            backend = await mount.probe_backend()
            try:
                special = backend.special_paths
                paths.root.extend(special.sudo)
                paths.unauthenticated.extend(special.unauthenticated)
            finally:
                if not mount.built(backend):
                    await backend.close()
        except Exception:  # a registration probe has no storage yet: no special paths
            logger.debug("special paths: no backend yet", exc_info=True)
        await stream.send_message(backend_pb2.SpecialPathsReply(paths=paths))

    # -- requests ------------------------------------------------------------------

    async def HandleExistenceCheck(
        self,
        stream: Stream[backend_pb2.HandleExistenceCheckArgs, backend_pb2.HandleExistenceCheckReply],
    ) -> None:
        args = await stream.recv_message()
        assert args is not None
        reply = backend_pb2.HandleExistenceCheckReply()
        try:
            mount = self._mount(stream)
            backend = await mount.backend(args.request.mount_point)
            request = requests.to_sdk_request(args.request, await mount.storage())
            found, exists = await _existence(backend, request)
            reply.check_found, reply.exists = found, exists
        except VaultError as exc:
            reply.err.CopyFrom(responses.error_of(exc))
        except Exception:
            logger.exception("existence check failed path=%s", args.request.path)
            reply.err.CopyFrom(responses.internal_error("checking existence"))
        await stream.send_message(reply)

    async def HandleRequest(
        self, stream: Stream[backend_pb2.HandleRequestArgs, backend_pb2.HandleRequestReply]
    ) -> None:
        args = await stream.recv_message()
        assert args is not None
        request = args.request
        reply = backend_pb2.HandleRequestReply()
        done: Callable[[], Awaitable[None]] | None = None
        try:
            mount = self._mount(stream)
            answer, done = await self._handle(mount, request)
            if answer is not None:
                reply.response.CopyFrom(answer)
        except NotFoundError as exc:
            if exc.errors:  # an empty 404 is Vault's "nothing here": no response, no error
                reply.err.CopyFrom(responses.error_of(exc))
        except VaultError as exc:
            as_data = responses.user_error_response(exc)
            if as_data is not None:
                reply.response.CopyFrom(as_data)
            else:
                reply.err.CopyFrom(responses.error_of(exc))
        except Exception:
            logger.exception("request failed operation=%s path=%s", request.operation, request.path)
            reply.err.CopyFrom(responses.internal_error(f"serving {request.operation}"))
        await stream.send_message(reply)
        if done is not None:
            # After the answer: killed before this, the entry stays and the rollback
            # kills a credential whose lease may be live (safe); never the reverse.
            self._later(done())

    def _later(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                logger.exception("background work after an answer failed")

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _handle(
        self, mount: MountInstance, request: backend_pb2.Request
    ) -> tuple[backend_pb2.Response | None, Callable[[], Awaitable[None]] | None]:
        """The answer, and what to do once it is sent (None: nothing)."""
        operation = request.operation
        if operation not in requests.OPERATIONS and operation not in requests.HOST_OPERATIONS:
            raise UnsupportedPathError()  # resolve-path, alias-lookahead, ...
        backend = await mount.backend(request.mount_point)
        storage = await mount.storage()
        if operation == "rollback":
            wal = await mount.wal()
            rolled = await wal.rollback(backend)
            if rolled:
                logger.info("rollback: %d unanswered issue(s) undone", rolled)
            return None, None
        if operation in ("renew", "revoke"):
            return await self._lease_callback(backend, storage, request), None
        response = await backend.handle(requests.to_sdk_request(request, storage))
        if response is None or response.secret is None:
            return responses.plain_response(response), None
        return await self._issue(mount, backend, request, response)

    async def _lease_callback(
        self, backend: Backend, storage: Storage, request: backend_pb2.Request
    ) -> backend_pb2.Response | None:
        secret_type_name, internal = requests.secret_of(request)
        secret_type = backend.secrets.get(secret_type_name)
        if secret_type is None:
            raise InvalidRequestError(f"unknown secret type {secret_type_name!r}")
        secret_request = SecretRequest(storage=storage, internal=internal, lease_path=request.path)
        if request.operation == "revoke":
            await secret_type.revoke(secret_request)
            return None
        if secret_type.renew is None:
            raise InvalidRequestError("lease is not renewable")
        allowed = await secret_type.renew(secret_request)
        return responses.renewed_secret(request.secret, allowed)

    async def _issue(
        self,
        mount: MountInstance,
        backend: Backend,
        request: backend_pb2.Request,
        response: Response,
    ) -> tuple[backend_pb2.Response, Callable[[], Awaitable[None]] | None]:
        """Create the credential under a write-ahead entry (see goplugin/wal.py)."""
        spec = response.secret
        assert spec is not None
        data: dict[str, Any] = dict(response.data or {})
        if response.issue is None:
            answer = responses.secret_response(
                spec, dict(spec.internal), data, list(response.warnings)
            )
            return answer, None
        wal = await mount.wal()
        before = dict(spec.internal)
        entry = await wal.begin(spec.type, before, request.path)
        try:
            issued = await response.issue()
            data.update(issued.data)
            # What creating told (a client secret's key id) replaces the pending form;
            # the entry learns it too, so a rollback removes exactly that credential.
            internal = before if issued.internal is None else dict(issued.internal)
            if internal != before:
                await wal.update(entry, internal)
        except BaseException as exc:
            wal.release(entry)
            if definitely_failed(exc):
                self._later(wal.end(entry))
            else:  # the credential may exist: undo it now, else the rollback will
                self._later(_undo_now(wal, backend))
            raise
        answer = responses.secret_response(spec, internal, data, list(response.warnings))
        return answer, lambda: wal.end(entry)


async def _undo_now(wal: WriteAheadLog, backend: Backend) -> None:
    await wal.rollback(backend)


async def _existence(backend: Backend, request: Request) -> tuple[bool, bool]:
    """(the path has an existence check, the item exists), as Go's framework answers."""
    spec, captures = backend.route(request.path)
    if spec.existence_check is None:
        return False, False
    data = FieldData(spec.fields, {**request.data, **captures})
    probe = Request(
        operation=Operation.UPDATE,
        path=request.path,
        data=data.raw,
        storage=request.storage,
        mount_point=request.mount_point,
        identity=request.identity,
        remote_address=request.remote_address,
    )
    return True, await spec.existence_check(probe, data)
