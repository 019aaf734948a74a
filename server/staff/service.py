"""Staff accounts: creation, password login, listing; and the audit trail query."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from models import AuditLog, StaffRole, StaffUser
from server.core.errors import AppError, Conflict

_hasher = PasswordHasher()


class LoginRejected(AppError):
    status, code, message = 401, "STAFF_LOGIN_FAILED", "用户名或密码错误"


async def create(*, username: str, password: str, display_name: str, role: StaffRole,
                 hall_code: str | None = None) -> StaffUser:
    """Create a staff account with an argon2-hashed password."""
    if await StaffUser.exists(username=username):
        raise Conflict("用户名已存在", code="STAFF_EXISTS")
    # argon2 is deliberately slow: keep it off the event loop.
    password_hash = await asyncio.to_thread(_hasher.hash, password)
    return await StaffUser.create(username=username, password_hash=password_hash, display_name=display_name,
                                  role=role, hall_code=hall_code)


async def authenticate(*, username: str, password: str) -> StaffUser:
    user = await StaffUser.get_or_none(username=username, active=True)
    # Verify against a dummy hash when the user is unknown, so timing does not reveal usernames.
    stored = user.password_hash if user else _DUMMY_HASH
    try:
        await asyncio.to_thread(_hasher.verify, stored, password)
    except VerificationError as exc:
        raise LoginRejected() from exc
    if user is None:
        raise LoginRejected()
    return user


async def change_password(*, user_id: int, old_password: str, new_password: str) -> None:
    """Change one's own password after proving the current one (the console's password page)."""
    if not 8 <= len(new_password) <= 256:
        raise AppError("新密码长度应为 8 至 256 位", code="PASSWORD_TOO_SHORT", status=422)
    user = await StaffUser.get_or_none(id=user_id, active=True)
    try:
        await asyncio.to_thread(_hasher.verify, user.password_hash if user else _DUMMY_HASH, old_password)
    except VerificationError as exc:
        raise AppError("当前密码不正确", code="PASSWORD_WRONG", status=422) from exc
    if user is None:
        raise LoginRejected()
    password_hash = await asyncio.to_thread(_hasher.hash, new_password)
    await StaffUser.filter(id=user.id).update(password_hash=password_hash)


async def get_all() -> list[StaffUser]:
    return await StaffUser.all().order_by("id")


async def audit_entries(*, limit: int = 100, target_type: str | None = None, actor_id: str | None = None,
                        action: str | None = None, target_id: str | None = None) -> list[AuditLog]:
    qs = AuditLog.all().order_by("-id").limit(limit)
    if target_type:
        qs = qs.filter(target_type=target_type)
    if actor_id:
        qs = qs.filter(actor_id=actor_id)
    if action:
        qs = qs.filter(action=action)
    if target_id:
        qs = qs.filter(target_id=target_id)
    return await qs


def read(user: StaffUser) -> dict:
    return {"id": user.id, "username": user.username, "display_name": user.display_name,
            "role": user.role.value, "hall_code": user.hall_code, "active": user.active}


_DUMMY_HASH = _hasher.hash("dengji-dummy-password")
