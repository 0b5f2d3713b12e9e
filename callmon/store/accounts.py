"""Accounts, sign-in sessions and sign-in throttling, in the database.

Passwords are hashed with argon2id (``argon2-cffi``'s defaults, RFC 9106's second recommended
parameter set); there is no default account and no default password.  A session token is
random (256 bits) and only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from callmon.store.decisions import audit
from callmon.store.jobs import now_us
from callmon.store.review_models import LoginFailure, User, WebSession

ROLES = ("admin", "supervisor", "operator", "auditor")
MIN_PASSWORD = 10
_HASHER = PasswordHasher()
_DUMMY = _HASHER.hash("not a password: equalises the time of a sign-in with an unknown name")


class AccountError(ValueError):
    """An account change that cannot be made (the message says why)."""


@dataclass(frozen=True)
class Principal:
    """Who is signed in: what every request is authorised against."""

    user_id: int
    username: str
    role: str
    operator: str | None
    csrf: str
    session_id: int


def add_user(session: Session, username: str, role: str, password: str, operator: str | None = None,
             by: str = "cli") -> User:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if role == "operator" and not operator:
        raise AccountError("an operator account needs --operator MEMBERNAME (the name calls carry)")
    if not username or len(username) > 64 or not username.isprintable() or " " in username:
        raise AccountError("a user name is 1 to 64 printable characters without spaces")
    _check_password(password)
    if session.scalars(select(User.id).where(User.username == username)).first() is not None:
        raise AccountError(f"user {username!r} exists already")
    now = now_us()
    user = User(username=username, role=role, operator=operator, password_hash=_HASHER.hash(password),
                disabled=False, created_us=now, password_changed_us=now)
    session.add(user)
    audit(session, by, "admin", "user_add", after={"username": username, "role": role, "operator": operator})
    return user


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")


def _user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise AccountError(f"no user {username!r}")
    return user


def set_password(session: Session, username: str, password: str, by: str = "cli") -> None:
    _check_password(password)
    user = _user(session, username)
    user.password_hash, user.password_changed_us = _HASHER.hash(password), now_us()
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))  # signed out everywhere
    audit(session, by, "admin", "user_passwd", after={"username": username})


def set_disabled(session: Session, username: str, disabled: bool = True, by: str = "cli") -> None:
    user = _user(session, username)
    user.disabled = disabled
    if disabled:
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    audit(session, by, "admin", "user_disable" if disabled else "user_enable", after={"username": username})


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def failures_since(session: Session, username: str, address: str, since_us: int) -> tuple[int, int]:
    """Failed sign-ins since ``since_us``: (for this user name, from this address)."""
    by_user = session.scalar(select(func.count()).select_from(LoginFailure)
                             .where(LoginFailure.username == username, LoginFailure.at_us >= since_us)) or 0
    by_addr = session.scalar(select(func.count()).select_from(LoginFailure)
                             .where(LoginFailure.address == address, LoginFailure.at_us >= since_us)) or 0
    return int(by_user), int(by_addr)


def authenticate(session: Session, username: str, password: str, address: str) -> User | None:
    """The user if the password is right and the account enabled; a failure is recorded otherwise."""
    user = session.scalars(select(User).where(User.username == username)).first()
    ok = False
    try:
        ok = _HASHER.verify(user.password_hash if user is not None else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None or user.disabled:
        session.add(LoginFailure(username=username[:64], address=address[:64], at_us=now_us()))
        return None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    session.execute(delete(LoginFailure).where(LoginFailure.username == username))
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: User) -> str:
    """A new session for ``user``; returns the token for the cookie (only its digest is stored)."""
    token = secrets.token_urlsafe(32)
    now = now_us()
    session.add(WebSession(token_sha256=_digest(token), user_id=user.id, csrf=secrets.token_urlsafe(24),
                           created_us=now, last_seen_us=now))
    return token


def resume_session(session: Session, token: str, idle_us: int, touch_every_us: int = 30_000_000) -> Principal | None:
    """Who holds ``token``, if the session exists, is not idle too long and its user is enabled."""
    row = session.execute(select(WebSession, User).join(User, User.id == WebSession.user_id)
                          .where(WebSession.token_sha256 == _digest(token))).first()
    if row is None:
        return None
    web, user = row
    now = now_us()
    if user.disabled or now - web.last_seen_us > idle_us:
        session.delete(web)
        return None
    if now - web.last_seen_us > touch_every_us:
        web.last_seen_us = now
    return Principal(user.id, user.username, user.role, user.operator, web.csrf, web.id)


def end_session(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_sha256 == _digest(token)))
