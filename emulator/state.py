"""The tenant's state, in memory: users, their directory roles and Temporary Access Passes,
the applications with their credentials, the engine application's permissions, and a clock."""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from emulator.credentials import (
    DEFAULT_PASSWORD_LIFETIME,
    Application,
    KeyCredential,
    PasswordCredential,
    SecretCheck,
    TemporaryAccessPass,
)
from emulator.directory import DirectoryRole, DirectoryRoleError, find_template
from emulator.settings import EmulatorSettings

__all__ = ["ApplicationError", "SignIn", "TenantState", "User", "UserError"]

# Enough of RFC 5322 for a UPN: one `@`, no spaces, something on both sides.
_UPN = re.compile(r"[^@\s/\\]+@[^@\s/\\]+")


class UserError(ValueError):
    """A user cannot be created as asked (duplicate or malformed user principal name)."""


class ApplicationError(ValueError):
    """An application or credential change that cannot be made as asked."""


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
    # Entra keeps at most one Temporary Access Pass per user.
    temporary_access_passes: list[TemporaryAccessPass] = field(default_factory=list)

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
        self._key = secrets.token_bytes(32)
        # Added to the real time for every expiry judgement (POST /_emulator/clock).
        self.clock_offset = timedelta(0)
        # Seconds a new client secret or certificate is refused before Entra accepts it.
        self.propagation_delay = float(settings.propagation_delay)
        # Seconds an app-only access token is valid.
        self.token_lifetime = int(settings.token_lifetime)
        self._applications: dict[str, Application] = {}
        self.engine_application = self.add_application("entra-broker", app_id=settings.client_id)
        # The service principal's object id, the `oid` of app-only tokens.
        self.app_object_id = self.engine_application.service_principal_id
        # The configured secret exists from the start, already propagated.
        self.add_password(
            self.engine_application, "initial", None, secret=settings.client_secret, propagated=True
        )
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

    def roles_of(self, app: Application) -> list[str]:
        """Graph permissions of `app`: only the engine's application has any."""
        return self.roles if app is self.engine_application else []

    # -- the clock ---------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset

    def advance_clock(self, seconds: float) -> None:
        self.clock_offset += timedelta(seconds=seconds)

    # -- applications and their credentials ----------------------------------------------

    def applications(self) -> list[Application]:
        return list(self._applications.values())

    def find_application(self, key: str) -> Application | None:
        """An application by object id or application (client) id, case-insensitive."""
        wanted = key.lower()
        found = self._applications.get(wanted)
        if found is not None:
            return found
        return next((a for a in self._applications.values() if a.app_id.lower() == wanted), None)

    def add_application(self, display_name: str, *, app_id: str | None = None) -> Application:
        app = Application(
            id=str(uuid.uuid4()),
            app_id=app_id or str(uuid.uuid4()),
            display_name=display_name,
            service_principal_id=str(uuid.uuid4()),
        )
        self._applications[app.id] = app
        return app

    def add_password(
        self,
        app: Application,
        display_name: str,
        end: datetime | None,
        *,
        start: datetime | None = None,
        secret: str | None = None,
        propagated: bool = False,
    ) -> tuple[PasswordCredential, str]:
        """Add a client secret to `app` (addPassword); returns it and its text."""
        now = self.now()
        begins = start or now
        ends = end
        if ends is None and not propagated:
            ends = begins + DEFAULT_PASSWORD_LIFETIME
        if ends is not None and ends <= begins:
            raise ApplicationError("endDateTime must be later than startDateTime")
        text = secret or (secrets.token_urlsafe(30).replace("-", "~")[:40])
        accepted_from = now if propagated else now + timedelta(seconds=self.propagation_delay)
        credential = PasswordCredential(
            key_id=str(uuid.uuid4()),
            display_name=display_name,
            digest=self._digest(text),
            hint=text[:3],
            start=begins,
            end=ends,
            created=now,
            accepted_from=accepted_from,
        )
        app.password_credentials.append(credential)
        return credential, text

    def remove_password(self, app: Application, key_id: str) -> bool:
        found = app.find_password(key_id)
        if found is None:
            return False
        app.password_credentials.remove(found)
        return True

    def add_certificate(self, app: Application, pem: str, display_name: str = "") -> KeyCredential:
        credential = KeyCredential.from_pem(pem, display_name)
        app.key_credentials.append(credential)
        return credential

    def check_client_secret(self, app: Application, secret: str) -> SecretCheck:
        """How `secret` fares as a client secret of `app` at this moment."""
        digest = self._digest(secret)
        now = self.now()
        for credential in app.password_credentials:
            if not hmac.compare_digest(digest, credential.digest):
                continue
            if credential.end is not None and now >= credential.end:
                return SecretCheck.EXPIRED
            if now < credential.start:
                return SecretCheck.WRONG
            if now < credential.accepted_from:
                return SecretCheck.NOT_PROPAGATED
            credential.sign_ins += 1
            return SecretCheck.OK
        return SecretCheck.WRONG

    # -- Temporary Access Passes ---------------------------------------------------------

    def create_tap(
        self, user: User, *, start: datetime | None, lifetime_in_minutes: int, is_usable_once: bool
    ) -> tuple[TemporaryAccessPass, str]:
        """A new pass for `user`, replacing any earlier one (Entra keeps one per user)."""
        now = self.now()
        # Entra's passes are 8+ characters of letters, digits and symbols.
        text = secrets.token_urlsafe(12)
        tap = TemporaryAccessPass(
            id=str(uuid.uuid4()),
            digest=self._digest(text),
            created=now,
            start=start or now,
            lifetime_in_minutes=lifetime_in_minutes,
            is_usable_once=is_usable_once,
        )
        user.temporary_access_passes[:] = [tap]
        return tap, text

    def delete_tap(self, user: User, tap_id: str) -> bool:
        before = len(user.temporary_access_passes)
        user.temporary_access_passes[:] = [
            t for t in user.temporary_access_passes if t.id != tap_id.lower()
        ]
        return len(user.temporary_access_passes) != before

    def use_tap(self, user: User, text: str) -> tuple[bool, str]:
        """Sign in with a pass: (worked, reason); a one-time pass is spent by a success."""
        digest = self._digest(text)
        for tap in user.temporary_access_passes:
            if not hmac.compare_digest(digest, tap.digest):
                continue
            usable, reason = tap.usability(self.now())
            if usable and tap.is_usable_once:
                tap.used = True
            return usable, reason
        return False, "WrongPass"

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
        if not _UPN.fullmatch(user_principal_name):
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
