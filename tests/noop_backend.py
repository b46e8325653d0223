"""A recording stand-in secrets engine, so mount tests exercise the core without Entra."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from mount.sdk import (
    Backend,
    BackendConfig,
    Field,
    FieldData,
    FieldType,
    InvalidRequestError,
    Issued,
    Operation,
    Path,
    Request,
    Response,
    SecretRequest,
    SecretSpec,
    SecretTTL,
    SecretType,
    UpstreamError,
    name_pattern,
)


@dataclass
class NoopRole:
    ttl: int = 60
    max_ttl: int = 300
    mode: str = "shared"  # shared: no holder key; rotate uses one


@dataclass
class NoopEngine:
    """Records issue/revoke calls; knobs make them fail."""

    roles: dict[str, NoopRole] = field(default_factory=lambda: {"a": NoopRole()})
    issued: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    live: set[str] = field(default_factory=set)
    fail_issue: str | None = None  # "definite" or "ambiguous"
    fail_revokes: int = 0
    refuse_revokes: bool = False  # a permanent refusal, such as a withdrawn permission
    counter: int = 0

    async def factory(self, conf: BackendConfig) -> Backend:
        fields = {"name": Field(FieldType.NAME, "Role name.")}
        return Backend(
            [
                Path(
                    f"creds/{name_pattern('name')}",
                    {Operation.READ: self.creds_read},
                    fields,
                    help_synopsis="Issue a credential.",
                )
            ],
            [SecretType("noop", revoke=self.revoke, renew=self.renew)],
            type_name="noop",
        )

    async def creds_read(self, req: Request, d: FieldData) -> Response:
        name = d.get("name")
        role = self.roles.get(name)
        if role is None:
            raise InvalidRequestError(f"unknown role: {name}")
        self.counter += 1
        credential = f"cred-{self.counter}"

        async def issue() -> Issued:
            if self.fail_issue == "definite":
                raise UpstreamError("upstream refused", may_have_applied=False)
            if self.fail_issue == "ambiguous":
                self.live.add(credential)
                raise UpstreamError("upstream timed out", may_have_applied=True)
            self.issued.append(credential)
            self.live.add(credential)
            return Issued({"credential": credential})

        return Response(
            secret=SecretSpec(
                type="noop",
                internal={"credential": credential, "role": name},
                ttl=timedelta(seconds=role.ttl),
                max_ttl=timedelta(seconds=role.max_ttl),
                holder_key=None if role.mode == "shared" else f"role/{name}",
            ),
            issue=issue,
        )

    async def revoke(self, req: SecretRequest) -> None:
        if self.refuse_revokes:
            raise UpstreamError("upstream denied the reset", retryable=False)
        if self.fail_revokes > 0:
            self.fail_revokes -= 1
            raise UpstreamError("upstream unavailable", retryable=True)
        credential = req.internal["credential"]
        self.revoked.append(credential)
        self.live.discard(credential)

    async def renew(self, req: SecretRequest) -> SecretTTL | None:
        role = self.roles.get(req.internal["role"])
        if role is None:
            return None
        return SecretTTL(timedelta(seconds=role.ttl), timedelta(seconds=role.max_ttl))
