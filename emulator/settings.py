"""What one emulated tenant starts with: its ids, the application's secret, its users."""

from __future__ import annotations

from dataclasses import dataclass, field

from emulator.tokens import TOKEN_LIFETIME

__all__ = ["DEFAULT_ROLES", "EmulatorSettings"]

DEFAULT_ROLES: tuple[str, ...] = ("User.ReadWrite.All",)


@dataclass
class EmulatorSettings:
    """The tenant the emulator plays.

    Parameters:
        tenant_id: the directory (tenant) id; also accepted case-insensitively in URLs.
        client_id: the one registered application's id.
        client_secret: that application's secret (never shown in repr or logs).
        users: user principal names created at start, each with an unknown random password.
        roles: Graph application permissions granted to the application.
        hostnames: extra names for the server certificate, besides 127.0.0.1, localhost, ::1.
        directory_roles: directory roles given at start, by user principal name (a user of
            `users`): role template ids or names such as "Global Administrator".
        groups: security groups created at start, by display name, with their members
            (user principal names of `users`); their object ids are new GUIDs.
        propagation_delay: seconds a new client secret is refused at the token endpoint,
            as Entra does while a new credential propagates; 0 accepts it at once.
        token_lifetime: seconds an app-only access token is valid (`expires_in`); Entra
            gives 60 to 90 minutes, tests shorten it to see the client renew its token.
    """

    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    users: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=lambda: list(DEFAULT_ROLES))
    hostnames: list[str] = field(default_factory=list)
    directory_roles: dict[str, list[str]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    propagation_delay: float = 0.0
    token_lifetime: int = TOKEN_LIFETIME
