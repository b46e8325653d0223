"""The tenant's state, in memory: users, their directory roles, the one application and
that app's permissions."""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from plugin.emulator.directory import DirectoryRole, DirectoryRoleError, find_template
from plugin.emulator.settings import EmulatorSettings

__all__ = ["SignIn", "TenantState", "User", "UserError"]

# Enough of RFC 5322 for a UPN: one `@`, no spaces, something on both sides.
_UPN = re.compile(r"^[^@\s/\\]+@[^@\s/\\]+$")


class UserError(ValueError):
    """A user cannot be created as asked (duplicate or malformed user principal name)."""


class SignIn(enum.Enum):
    """The outcome of a sign-in with a username and password."""

    OK = "ok"
    UNKNOWN_USER = "unknown_user"
    WRONG_PASSWORD = "wrong_password"
    DISABLED = "disabled"
    PASSWORD_EXPIRED = "password_expired"


@dataclass(slots=True)
class User:
    """One directory user. The password is kept only as a keyed digest, never in clear."""

    id: str
    user_principal_name: str
    display_name: str
    mail: str | None
    account_enabled: bool
    password_digest: bytes = field(repr=False)
    force_change_password: bool = False
    password_changes: int = 0
    password_changed_at: datetime | None = None

    @property
    def alias(self) -> str:
        return self.user_principal_name.split("@", 1)[0]


class TenantState:
    """Users, the application and its granted Graph application permissions.

    Only the event loop serving the emulator changes it; passwords and the client secret
    are held as HMAC digests under a key generated per instance.
    """

    def __init__(self, settings: EmulatorSettings) -> None:
        self.tenant_id = settings.tenant_id
        self.client_id = settings.client_id
        # The service principal's object id, the `oid` of app-only tokens.
        self.app_object_id = str(uuid.uuid4())
        self._key = secrets.token_bytes(32)
        self._secret_digest = self._digest(settings.client_secret)
        self._roles: list[str] = []
        self.roles = list(settings.roles)
        self._users: dict[str, User] = {}
        # Directory roles activated in the tenant, by template id, and each user's
        # roles (template ids, in assignment order).
        self._directory_roles: dict[str, DirectoryRole] = {}
        self._role_members: dict[str, list[str]] = {}
        for upn in settings.users:
            self.add_user(upn)
        for upn, keys in settings.directory_roles.items():
            user = self.find_user(upn)
            if user is None:
                raise DirectoryRoleError(f"no user {upn!r} to give directory roles to")
            for key in keys:
                self.assign_directory_role(user, key)

    # -- the application ---------------------------------------------------------------

    @property
    def roles(self) -> list[str]:
        """The app's granted Graph application permissions (a copy)."""
        return list(self._roles)

    @roles.setter
    def roles(self, roles: Iterable[str]) -> None:
        self._roles = list(dict.fromkeys(roles))

    def knows_client(self, client_id: str) -> bool:
        return client_id.lower() == self.client_id.lower()

    def secret_matches(self, secret: str) -> bool:
        return hmac.compare_digest(self._digest(secret), self._secret_digest)

    def knows_tenant(self, tenant: str) -> bool:
        """True for the tenant id or a domain of one of its users (case-insensitive)."""
        name = tenant.lower()
        if name == self.tenant_id.lower():
            return True
        return any(u.user_principal_name.lower().endswith("@" + name) for u in self._users.values())

    # -- users -------------------------------------------------------------------------

    def users(self) -> list[User]:
        """All users, in creation order."""
        return list(self._users.values())

    def find_user(self, key: str) -> User | None:
        """A user by object id or user principal name, both case-insensitive."""
        wanted = key.lower()
        user = self._users.get(wanted)
        if user is not None:
            return user
        for user in self._users.values():
            if user.user_principal_name.lower() == wanted:
                return user
        return None

    def add_user(
        self,
        user_principal_name: str,
        *,
        display_name: str | None = None,
        password: str | None = None,
        account_enabled: bool = True,
    ) -> User:
        """Create a user; without `password` it gets a random one nobody knows."""
        if not _UPN.match(user_principal_name):
            raise UserError(f"userPrincipalName {user_principal_name!r} is not name@domain")
        if self.find_user(user_principal_name) is not None:
            raise UserError(f"a user with userPrincipalName {user_principal_name!r} exists")
        alias = user_principal_name.split("@", 1)[0]
        user = User(
            id=str(uuid.uuid4()),
            user_principal_name=user_principal_name,
            display_name=display_name if display_name is not None else alias.capitalize(),
            mail=user_principal_name,
            account_enabled=account_enabled,
            password_digest=self._digest(password or secrets.token_urlsafe(24)),
        )
        self._users[user.id] = user
        return user

    def remove_user(self, key: str) -> User | None:
        user = self.find_user(key)
        if user is not None:
            del self._users[user.id]
            self._role_members.pop(user.id, None)
        return user

    # -- directory roles ---------------------------------------------------------------

    def directory_roles_of(self, user: User) -> list[DirectoryRole]:
        """The user's directory roles, in assignment order."""
        return [self._directory_roles[t] for t in self._role_members.get(user.id, [])]

    def activated_directory_roles(self) -> list[DirectoryRole]:
        """Every directory role the tenant has activated, in activation order."""
        return list(self._directory_roles.values())

    def members_of(self, role: DirectoryRole) -> list[User]:
        return [
            u
            for u in self._users.values()
            if role.role_template_id in self._role_members.get(u.id, [])
        ]

    def assign_directory_role(
        self, user: User, key: str, *, display_name: str | None = None
    ) -> tuple[DirectoryRole, bool]:
        """Make `user` a member of the role `key` (template id or name); True if new.

        The role object is activated on first use, as Entra does.
        """
        template = find_template(key, display_name)
        role = self._directory_roles.get(template.id)
        if role is None:
            role = DirectoryRole(str(uuid.uuid4()), template.id, template.display_name)
            self._directory_roles[template.id] = role
        held = self._role_members.setdefault(user.id, [])
        if template.id in held:
            return role, False
        held.append(template.id)
        return role, True

    def remove_directory_role(self, user: User, key: str) -> DirectoryRole | None:
        """End the membership named by role object id, template id or name; None if none."""
        wanted = key.strip().lower()
        for role in self.directory_roles_of(user):
            if wanted in (role.id, role.role_template_id, role.display_name.lower()):
                self._role_members[user.id].remove(role.role_template_id)
                return role
        return None

    def set_password(self, user: User, password: str, *, force_change: bool = False) -> None:
        """A password reset through Graph: counted and time-stamped for tests."""
        user.password_digest = self._digest(password)
        user.force_change_password = force_change
        user.password_changes += 1
        user.password_changed_at = datetime.now(UTC)

    def sign_in(self, username: str, password: str) -> tuple[SignIn, User | None]:
        """Check a username and password as the password grant does."""
        user = self.find_user(username)
        if user is None or "@" not in username:
            return SignIn.UNKNOWN_USER, None
        if not hmac.compare_digest(self._digest(password), user.password_digest):
            return SignIn.WRONG_PASSWORD, user
        if not user.account_enabled:
            return SignIn.DISABLED, user
        if user.force_change_password:
            return SignIn.PASSWORD_EXPIRED, user
        return SignIn.OK, user

    def _digest(self, value: str) -> bytes:
        return hmac.new(self._key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
