"""Factories for test data: valid identities, logged-in citizens and staff, seeded sample data."""

from __future__ import annotations

import itertools
import random

import httpx

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_counter = itertools.count(1)


def make_id_number(birth: str = "19900101", region: str = "320102", seq: int | None = None) -> str:
    """Return a valid 18-digit resident ID number (check digit computed)."""
    seq = seq if seq is not None else random.randint(0, 999)
    body = f"{region}{birth}{seq:03d}"
    total = sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def make_mobile() -> str:
    return f"138{random.randint(0, 99999999):08d}"


async def seed_sample_data(settings) -> None:
    """Load the shipped sample data (halls, business types, calendar)."""
    from server.catalog.seed import seed

    await seed(settings)


async def login_citizen(client: httpx.AsyncClient, code: str | None = None) -> str:
    """Log a citizen in through the mini-program API; return the bearer token."""
    code = code or f"code-{next(_counter)}-{random.random()}"
    res = await client.post("/api/mp/login", json={"code": code})
    assert res.status_code == 200, res.text
    return res.json()["token"]


def person_code(key: str | None = None, *, name: str | None = None, id_number: str | None = None) -> str:
    """A fresh wx.login code of the fake WeChat's person ``key`` who really is ``name`` / ``id_number``.

    The person's mini-program openid is ``FakeWeChat.openid_for(key)``, as for a plain code ``key``.
    """
    from tests.fakewechat import FakeWeChat

    return FakeWeChat.code_for(key or f"c{next(_counter)}-{random.randrange(16**6):06x}", name=name,
                               id_number=id_number)


async def face_bind(client: httpx.AsyncClient, headers: dict[str, str], *, name: str, id_number: str,
                    mobile: str | None = None) -> httpx.Response:
    """Bind through the real face-verification flow (the fake WeChat decides whether the face matches)."""
    body = {"name": name, "id_number": id_number} | ({"mobile": mobile} if mobile else {})
    res = await client.post("/api/mp/binding/verify", headers=headers, json=body)
    if res.status_code != 200:
        return res
    return await client.post("/api/mp/binding", headers=headers, json={"verify_id": res.json()["verify_id"]})


async def bound_citizen(client: httpx.AsyncClient, *, name: str = "张三", id_number: str | None = None,
                        mobile: str | None = None, code: str | None = None) -> tuple[dict[str, str], str]:
    """Log in as a person who really is ``name`` and bind by face verification; return (headers, id number)."""
    birth = f"19{random.randint(50, 99)}0{random.randint(1, 9)}1{random.randint(0, 9)}"
    id_number = id_number or make_id_number(seq=random.randint(0, 999), birth=birth)
    token = await login_citizen(client, person_code(code, name=name, id_number=id_number))
    headers = {"Authorization": f"Bearer {token}"}
    res = await face_bind(client, headers, name=name, id_number=id_number, mobile=mobile or make_mobile())
    assert res.status_code == 200, res.text
    return headers, id_number


async def staff_headers(client: httpx.AsyncClient, *, role: str = "admin", hall_code: str | None = None,
                        username: str | None = None) -> dict[str, str]:
    """Create a staff account directly through the service and log in over HTTP."""
    from models import StaffRole
    from server.staff import service

    username = username or f"{role}{next(_counter)}"
    await service.create(username=username, password="correct-horse-42", display_name=username,
                         role=StaffRole(role), hall_code=hall_code)
    res = await client.post("/api/staff/login", json={"username": username, "password": "correct-horse-42"})
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['token']}"}
