"""The typed errors a backend may raise; the mount maps each to Vault's status and body.

    VaultError (500)
    ├── AuditFailedError (500, no enabled audit device could record the request)
    ├── InvalidRequestError (400)
    ├── PermissionDeniedError (403)
    ├── NotFoundError (404)
    │   └── UnsupportedPathError (404, "unsupported path")
    ├── UnsupportedOperationError (405)
    ├── ConflictError (409)
    ├── RateLimitedError (429, carries retry_after)
    ├── UpstreamError (502, carries retryable / may_have_applied / retry_after)
    └── UnavailableError (503)

Messages are shown to API clients: they say what to fix and never hold a secret.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "AuditFailedError",
    "ConflictError",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "UnavailableError",
    "UnsupportedOperationError",
    "UnsupportedPathError",
    "UpstreamError",
    "VaultError",
    "definitely_failed",
    "multierror",
]

REDACTED = "<redacted>"


def multierror(*messages: str) -> str:
    """Format messages the way Vault's go-multierror does (its CLI and clients expect it)."""
    lines = "".join(f"\t* {m}\n" for m in messages)
    count = (
        f"{len(messages)} error occurred"
        if len(messages) == 1
        else (f"{len(messages)} errors occurred")
    )
    return f"{count}:\n{lines}\n"


class VaultError(Exception):
    """Base of every error that reaches an API client; 500 unless a subclass says otherwise."""

    status = 500

    def __init__(self, message: str = "", *, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self._errors = errors

    @property
    def errors(self) -> list[str]:
        """The strings for the `errors` list of the response body."""
        if self._errors is not None:
            return list(self._errors)
        return [self.message] if self.message else []

    def redact(self, values: Iterable[str]) -> None:
        """Replace each of `values` (a sensitive field's input) wherever a message
        repeats it, so that no error body, log line or audit entry echoes it."""
        for value in sorted(values, key=len, reverse=True):
            self.message = self.message.replace(value, REDACTED)
            if self._errors is not None:
                self._errors = [e.replace(value, REDACTED) for e in self._errors]
        self.args = (self.message,)


class AuditFailedError(VaultError):
    """No enabled audit device could record the request: it is refused, not served."""


class InvalidRequestError(VaultError):
    """The caller sent something wrong; the message names the field or object to fix."""

    status = 400


class PermissionDeniedError(VaultError):
    status = 403

    def __init__(self, message: str = "permission denied") -> None:
        super().__init__(message)


class NotFoundError(VaultError):
    """Nothing at this path; an empty message gives Vault's `{"errors": []}`."""

    status = 404


class UnsupportedPathError(NotFoundError):
    def __init__(self) -> None:
        super().__init__(multierror("unsupported path"))


class UnsupportedOperationError(VaultError):
    status = 405

    def __init__(self) -> None:
        super().__init__(multierror("unsupported operation"))


class ConflictError(VaultError):
    """The request clashes with what exists (a mount path already in use)."""

    status = 409


class RateLimitedError(VaultError):
    """A limit was hit; `retry_after` (seconds) becomes the Retry-After header."""

    status = 429

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamError(VaultError):
    """An upstream service (Entra, Graph) failed.

    `retryable`: trying again later may work. `may_have_applied`: the upstream may have
    carried out the change although we saw an error (a timeout, a 5xx), so the mount
    must assume the side effect happened and undo it. `retry_after`: seconds the upstream
    asked us to wait before the next try (its Retry-After), None when it said nothing.
    """

    status = 502

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        may_have_applied: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.may_have_applied = may_have_applied
        self.retry_after = retry_after


class UnavailableError(VaultError):
    status = 503


def definitely_failed(exc: BaseException) -> bool:
    """An issue error after which no credential can exist: a typed refusal, not an
    upstream failure that may have applied the change. Every host drops its cover of
    such an issue (pending lease, write-ahead entry) without calling revoke."""
    return isinstance(exc, VaultError) and not (
        isinstance(exc, UpstreamError) and exc.may_have_applied
    )
