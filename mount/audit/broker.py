"""The audit broker: the table of enabled devices, and writing each request to all of them.

Vault's rule holds: a request is recorded before it is served, and it is served only if at
least one enabled device recorded it; its response is recorded before the client gets it.
The table (one record per device, its HMAC key included) lives in the barrier-sealed
storage, so digests stay the same across restarts and the key is never on disk in clear.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mount.audit.device import (
    DEVICE_TYPES,
    AuditWriteError,
    DeclaredDevice,
    FileDevice,
    FileOptions,
)
from mount.audit.entries import AuditAuth, AuditEvent, AuditRequest, AuditResponse
from mount.audit.hashing import AuditHasher, new_hmac_key
from mount.config.model import ConfigError
from mount.ids import random_id, rfc3339
from mount.mounts import MountEntry
from mount.reply import Reply
from mount.request import ApiRequest
from mount.sdk.errors import AuditFailedError, InvalidRequestError, VaultError, multierror
from mount.sdk.logical import Storage
from mount.tokens.store import TokenEntry

__all__ = ["AuditBroker", "AuditTrail", "DeviceEntry", "UNAUDITED_PATHS"]

logger = logging.getLogger(__name__)

TABLE_KEY = "table"
# Vault does not audit these: they carry no token and are polled by load balancers.
UNAUDITED_PATHS = ("sys/health", "sys/seal-status", "sys/leader")


def device_path(path: str) -> str:
    """A device path in its table form: no leading slash, one trailing slash."""
    return path.strip("/") + "/"


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    """One enabled device as stored; `declared` ones come from the config file."""

    path: str
    type: str
    description: str
    options: Mapping[str, str]
    uuid: str
    accessor: str
    hmac_key: str = field(repr=False)
    local: bool = False
    declared: bool = False

    def describe(self) -> dict[str, Any]:
        """The device as `sys/audit` lists it."""
        return {
            "type": self.type,
            "description": self.description,
            "options": dict(self.options),
            "local": self.local,
            "path": self.path,
        }

    def to_storage(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "type": self.type,
            "description": self.description,
            "options": dict(self.options),
            "uuid": self.uuid,
            "accessor": self.accessor,
            "hmac_key": self.hmac_key,
            "local": self.local,
            "declared": self.declared,
        }

    @classmethod
    def from_storage(cls, data: Mapping[str, Any]) -> DeviceEntry:
        return cls(
            path=str(data["path"]),
            type=str(data["type"]),
            description=str(data.get("description", "")),
            options={str(k): str(v) for k, v in dict(data.get("options") or {}).items()},
            uuid=str(data["uuid"]),
            accessor=str(data["accessor"]),
            hmac_key=str(data["hmac_key"]),
            local=bool(data.get("local", False)),
            declared=bool(data.get("declared", False)),
        )


class AuditBroker:
    """Enables, disables and lists devices, and hands each request its `AuditTrail`."""

    def __init__(self, storage: Storage, reserved_files: Mapping[Path, str] | None = None) -> None:
        self._storage = storage
        # Files no device may write to (the storage's, the seal key): see check_audit_file.
        self._reserved = dict(reserved_files or {})
        self._entries: dict[str, DeviceEntry] = {}
        self._devices: dict[str, FileDevice] = {}
        self._lock = asyncio.Lock()

    # -- the table ------------------------------------------------------------------

    async def load(self, declared: Sequence[DeclaredDevice] = ()) -> None:
        """Restore the stored devices and apply the config file's, once at start.

        A declared device keeps its HMAC key while its path and type stay the same; one
        removed from the config file is disabled. A device whose file cannot be opened
        stays enabled: requests then fail until the file can be written, as in Vault.
        """
        raw = await self._storage.get(TABLE_KEY)
        stored = [DeviceEntry.from_storage(item) for item in (raw or [])]
        wanted = {device_path(d.path): d for d in declared}
        table: list[DeviceEntry] = []
        for entry in stored:
            if entry.declared and entry.path not in wanted:
                logger.info("audit device removed from config path=%s", entry.path)
                continue
            if not entry.declared and entry.path in wanted:
                raise ConfigError(
                    f"audit device in configuration (path: {entry.path}) was already created "
                    "by API; remove the API audit device before declaring it in the config file"
                )
            table.append(entry)
        for path, spec in wanted.items():
            found = next((e for e in table if e.path == path), None)
            options = dict(spec.options)
            FileOptions.parse(options, from_config=True)
            if found is not None and found.type == spec.type:
                table[table.index(found)] = replace(
                    found, description=spec.description, options=options
                )
            else:
                if found is not None:
                    table.remove(found)
                table.append(self._new_entry(spec.type, path, spec.description, options, True))
        if [e.to_storage() for e in table] != [e.to_storage() for e in stored]:
            await self._save(table)
        for entry in table:
            device = self._device(entry)
            try:
                await device.open()
            except InvalidRequestError as exc:
                logger.error("audit device cannot write path=%s error=%s", entry.path, exc)
            self._entries[entry.path] = entry
            self._devices[entry.path] = device
        if table:
            logger.info("audit devices enabled count=%d", len(table))

    def entries(self) -> list[DeviceEntry]:
        return list(self._entries.values())

    async def enable(
        self, path: str, type_: str, description: str, options: Mapping[str, str], local: bool
    ) -> None:
        """Enable a device through the API: validate, open its file, persist, register."""
        path = device_path(path)
        if path == "/":
            raise InvalidRequestError("backend path must be specified")
        if type_ not in DEVICE_TYPES:
            raise InvalidRequestError(
                f'unknown backend type: "{type_}"; the supported type is "file"'
            )
        FileOptions.parse(options)
        async with self._lock:
            if any(p.startswith(path) or path.startswith(p) for p in self._entries):
                raise InvalidRequestError("path already in use")
            entry = self._new_entry(type_, path, description, options, False)
            entry = replace(entry, local=local)
            device = self._device(entry)
            await device.open()
            try:
                await self._save([*self._entries.values(), entry])
            except BaseException:
                await device.close()
                raise
            self._entries[path] = entry
            self._devices[path] = device
        logger.info("audit device enabled path=%s type=%s", path, type_)

    async def disable(self, path: str) -> None:
        """Disable an API-enabled device; an unknown path is not an error (Vault's 204)."""
        path = device_path(path)
        if path == "/":
            raise InvalidRequestError("audit device path must be specified")
        async with self._lock:
            entry = self._entries.get(path)
            if entry is None:
                return
            if entry.declared:
                raise InvalidRequestError("cannot disable configuration-managed audit device")
            await self._save([e for e in self._entries.values() if e.path != path])
            del self._entries[path]
            device = self._devices.pop(path)
        await device.close()
        logger.info("audit device disabled path=%s", path)

    def hash(self, path: str, value: str) -> str:
        """`sys/audit-hash`: the digest `value` has in that device's log."""
        path = device_path(path)
        device = self._devices.get(path)
        if device is None:
            raise InvalidRequestError(f'unknown audit backend "{path}"')
        return device.hasher.hash(value)

    async def close(self) -> None:
        for device in list(self._devices.values()):
            await device.close()

    def trail(self, api: ApiRequest) -> AuditTrail:
        """The recorder for one request, bound to the devices enabled as it starts."""
        if not self._devices:
            return UNRECORDED  # nothing to write: skip building the entries per request
        path = api.path.rstrip("/")
        devices = () if path in UNAUDITED_PATHS else tuple(self._devices.values())
        return AuditTrail(self, devices, api)

    def is_enabled(self, device: FileDevice) -> bool:
        return self._devices.get(device.name) is device

    def _new_entry(
        self, type_: str, path: str, description: str, options: Mapping[str, str], declared: bool
    ) -> DeviceEntry:
        return DeviceEntry(
            path=path,
            type=type_,
            description=description,
            options=dict(options),
            uuid=str(uuid.uuid4()),
            accessor=f"audit_{type_}_{random_id(8).lower()}",
            hmac_key=new_hmac_key(),
            declared=declared,
        )

    def _device(self, entry: DeviceEntry) -> FileDevice:
        options = FileOptions.parse(entry.options, from_config=entry.declared)
        return FileDevice(entry.path, options, AuditHasher(entry.hmac_key), self._reserved)

    async def _save(self, table: Sequence[DeviceEntry]) -> None:
        await self._storage.put(TABLE_KEY, [e.to_storage() for e in table])


def _now() -> str:
    return rfc3339(time.time())


class AuditTrail:
    """Records one request: its request line before it is served, then its response line.

    Both lines go to the devices enabled when the request arrived (a device enabled
    meanwhile starts with the next request; one disabled meanwhile gets no response
    line), so every device holds matching pairs.
    """

    def __init__(
        self, broker: AuditBroker, devices: tuple[FileDevice, ...], api: ApiRequest
    ) -> None:
        self._broker = broker
        self._devices = devices
        self._api = api
        self._auth = AuditAuth(client_token=api.token)
        self._request = AuditRequest(
            id=api.request_id,
            operation=api.operation.value,
            path=api.path,
            data=api.data,
            client_token=api.token,
            remote_address=api.remote,
        )

    async def refused(self, exc: BaseException) -> None:
        """A request refused before it could be served (unknown mount, bad token).

        As in Vault the request line carries the error and a failure to write it is only
        logged: the client gets the refusal either way.
        """
        if not self._devices:
            return
        # Refused before (or without) its path's field list: every top-level field is
        # hashed whatever its type, so a token or secret id sent as a number stays hidden.
        request = replace(
            self._request, sensitive=self._request.sensitive | frozenset(self._request.data or ())
        )
        event = AuditEvent("request", _now(), self._auth, request, error=_error(exc))
        await self._log(event, self._devices)

    async def request(
        self,
        mount: MountEntry,
        token: TokenEntry | None,
        sensitive: frozenset[str] = frozenset(),
    ) -> None:
        """Record the request before it is served; raises a 500 if no device could.

        `sensitive` names the request's fields that its path declares sensitive."""
        if token is not None:
            self._auth = AuditAuth(
                client_token=self._api.token,
                accessor=token.accessor,
                display_name=token.display_name,
                policies=token.policies,
                metadata=token.meta,
                token_type="service",
                token_ttl=token.creation_ttl,
                token_issue_time=rfc3339(token.creation_time).split(".")[0] + "Z",
                remaining_uses=token.num_uses,
            )
        self._request = replace(
            self._request,
            client_token_accessor=token.accessor if token else "",
            mount_point=mount.path,
            mount_type=mount.type,
            mount_accessor=mount.accessor,
            mount_class=mount.kind,
            sensitive=sensitive,
        )
        if not self._devices:
            return
        event = AuditEvent("request", _now(), self._auth, self._request)
        if not await self._log(event, self._devices):
            raise AuditFailedError(multierror("internal error"))

    async def response(self, response: Reply | None, exc: BaseException | None = None) -> None:
        """Record the answer before the client gets it; raises a 500 if no device could."""
        devices = tuple(d for d in self._devices if self._broker.is_enabled(d))
        if not devices:
            return
        answer = AuditResponse()
        if response is not None:
            answer = AuditResponse(
                data=response.raw if response.raw is not None else response.data,
                lease_id=response.lease_id,
                auth=response.auth,
                warnings=tuple(response.warnings),
                wrap_info=response.wrap_info,
            )
        error = _error(exc) if exc is not None else ""
        event = AuditEvent("response", _now(), self._auth, self._request, answer, error)
        if not await self._log(event, devices):
            raise AuditFailedError("internal error")

    async def _log(self, event: AuditEvent, devices: Sequence[FileDevice]) -> bool:
        """Write to every device at once; True if at least one recorded the event."""
        results = await asyncio.gather(
            *(device.log(event) for device in devices), return_exceptions=True
        )
        written = False
        for device, result in zip(devices, results, strict=True):
            if result is None:
                written = True
            elif isinstance(result, AuditWriteError):
                logger.error(
                    "audit %s not recorded device=%s request_id=%s error=%s",
                    event.type,
                    device.name,
                    event.request.id,
                    result,
                )
            elif isinstance(result, BaseException):
                raise result
        return written


class UnrecordedTrail(AuditTrail):
    """The trail of a request that arrives with no device enabled: it records nothing,
    exactly as an AuditTrail bound to no device, without building its entries."""

    def __init__(self) -> None:  # one instance serves every such request: no state
        pass

    async def refused(self, exc: BaseException) -> None:
        return None

    async def request(
        self,
        mount: MountEntry,
        token: TokenEntry | None,
        sensitive: frozenset[str] = frozenset(),
    ) -> None:
        return None

    async def response(self, response: Reply | None, exc: BaseException | None = None) -> None:
        return None


UNRECORDED = UnrecordedTrail()


def _error(exc: BaseException) -> str:
    if isinstance(exc, VaultError):
        return "\n".join(exc.errors)
    return "internal error"
