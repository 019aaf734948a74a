"""Staff accounts: creation, password login (throttled), changes, passwords, sessions; the audit trail query.

Login throttle: every try is counted in Redis (INCR, atomically with its window) BEFORE the password is
hashed, per username and per address, so parallel guesses cannot slip past the limit and a flood of wrong
passwords costs no argon2 time once the limit is reached. A locked username stays locked until its window
ends or an admin lifts the lock (`DELETE /api/staff/accounts/<id>/lockout`); a successful login clears the
username's count. The price, accepted: someone who knows a username can lock it out for a window.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from models import AuditLog, StaffRole, StaffUser
from server.core.errors import AppError, Conflict, NotFound

_hasher = PasswordHasher()
# argon2 is deliberately slow (~150 ms of CPU each): run it off the event loop, on at most all cores but one,
# so that a burst of logins queues here instead of starving the loop (whose Redis calls would time out).
_HASH_POOL = ThreadPoolExecutor(max_workers=max(1, (os.cpu_count() or 2) - 1), thread_name_prefix="argon2")


async def _argon2(method, *args):
    return await asyncio.get_running_loop().run_in_executor(_HASH_POOL, method, *args)


class LoginRejected(AppError):
    status, code, message = 401, "STAFF_LOGIN_FAILED", "用户名或密码错误"


class LoginLocked(AppError):
    status, code, message = 429, "STAFF_LOGIN_LOCKED", "登录失败次数过多，账号已暂时锁定，请稍后再试或联系管理员解锁"


class WrongPassword(AppError):
    status, code, message = 403, "STAFF_PASSWORD_WRONG", "当前密码不正确"


def _fail_keys(keys, *, username: str, ip: str) -> tuple[str, str]:
    return keys("staff", "login-fail", "user", username), keys("staff", "login-fail", "ip", ip)


async def _count_try(redis, keys, settings, *, username: str, ip: str) -> None:
    """Count this login try before any hashing; refuse it when the username or the address is over its limit."""
    user_key, ip_key = _fail_keys(keys, username=username, ip=ip)
    window = settings.staff_login_window_seconds
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(user_key)
        pipe.expire(user_key, window, nx=True)
        pipe.incr(ip_key)
        pipe.expire(ip_key, window, nx=True)
        by_user, _, by_ip, _ = await pipe.execute()
    if by_user > settings.staff_login_failures_per_user or by_ip > settings.staff_login_failures_per_ip:
        raise LoginLocked(details={"retry_after_seconds": window})


async def login(*, redis, keys, settings, username: str, password: str, ip: str) -> StaffUser:
    """Authenticate a staff member under the login throttle."""
    await _count_try(redis, keys, settings, username=username, ip=ip)
    user = await authenticate(username=username, password=password)
    user_key, ip_key = _fail_keys(keys, username=username, ip=ip)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.delete(user_key)
        pipe.decr(ip_key)  # a good login is not a failure of its address
        await pipe.execute()
    return user


async def lift_lockout(*, redis, keys, user: StaffUser) -> None:
    """Clear a username's failed-login count (an admin lifts the lock)."""
    await redis.delete(keys("staff", "login-fail", "user", user.username))


async def get_or_raise(*, account_id: int) -> StaffUser:
    user = await StaffUser.get_or_none(id=account_id)
    if user is None:
        raise NotFound("工作人员账号不存在", code="STAFF_NOT_FOUND")
    return user


async def update(*, user: StaffUser, actor_id: int, changes: dict) -> StaffUser:
    """Change an account's name, role, hall or active flag; takes effect on its next request."""
    if user.id == actor_id and (changes.get("active") is False or changes.get("role", user.role) != user.role):
        raise Conflict("不能停用自己的账号或变更自己的角色", code="STAFF_SELF_CHANGE")
    for name, value in changes.items():
        setattr(user, name, value)
    if changes.get("active") is False:
        user.session_version += 1  # a reactivated account starts with fresh sessions
    await user.save()
    return user


async def _set_password(user: StaffUser, password: str) -> None:
    user.password_hash = await _argon2(_hasher.hash, password)
    user.session_version += 1  # every session issued before the change ends
    await user.save(update_fields=["password_hash", "session_version", "updated_at"])


async def change_password(*, user: StaffUser, current: str, new: str) -> StaffUser:
    """Change one's own password (the current one is checked); other sessions end."""
    try:
        await _argon2(_hasher.verify, user.password_hash, current)
    except VerificationError as exc:
        raise WrongPassword() from exc
    await _set_password(user, new)
    return user


async def reset_password(*, user: StaffUser, new: str) -> StaffUser:
    """Set a new password for an account (admin); its sessions end."""
    await _set_password(user, new)
    return user


async def revoke_sessions(*, user: StaffUser) -> StaffUser:
    """End every session of an account on its next request."""
    user.session_version += 1
    await user.save(update_fields=["session_version", "updated_at"])
    return user


async def create(*, username: str, password: str, display_name: str, role: StaffRole,
                 hall_code: str | None = None) -> StaffUser:
    """Create a staff account with an argon2-hashed password."""
    if await StaffUser.exists(username=username):
        raise Conflict("用户名已存在", code="STAFF_EXISTS")
    password_hash = await _argon2(_hasher.hash, password)
    return await StaffUser.create(username=username, password_hash=password_hash, display_name=display_name,
                                  role=role, hall_code=hall_code)


async def authenticate(*, username: str, password: str) -> StaffUser:
    user = await StaffUser.get_or_none(username=username, active=True)
    # Verify against a dummy hash when the user is unknown, so timing does not reveal usernames.
    stored = user.password_hash if user else _DUMMY_HASH
    try:
        await _argon2(_hasher.verify, stored, password)
    except VerificationError as exc:
        raise LoginRejected() from exc
    if user is None:
        raise LoginRejected()
    return user


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
