"""Networked banks (联网银行) as data: branch points, whether mortgages are registered fully online and since
when. Loaded from config/data/banks.yaml by `dengji db seed`; read by the bot and by notice targeting."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from models import Bank

FILE = "banks.yaml"


class Branch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    address: str = Field(default="", max_length=255)


class BankSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    branches: list[Branch] = Field(default_factory=list)
    online_mortgage: bool = False
    online_mortgage_since: dt.date | None = None

    @model_validator(mode="after")
    def _since(self) -> BankSeed:
        if self.online_mortgage_since and not self.online_mortgage:
            raise ValueError(f"{self.name}：未开通抵押网办时 online_mortgage_since 须为 null")
        return self


class BanksFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    banks: list[BankSeed]


def load_file(data_dir: Path) -> list[BankSeed]:
    """Read and validate banks.yaml (an absent file means no networked banks)."""
    path = Path(data_dir) / FILE
    if not path.exists():
        return []
    data = BanksFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {"banks": []})
    names = [b.name for b in data.banks]
    if len(set(names)) != len(names):
        raise ValueError("banks.yaml：银行名称不能重复")
    return data.banks


async def seed(data_dir: Path) -> str:
    """Upsert the banks of the file; banks no longer listed are kept but marked inactive."""
    rows = load_file(data_dir)
    existing = {b.name: b for b in await Bank.all()}
    for row in rows:
        values = dict(branches=[b.model_dump() for b in row.branches], online_mortgage=row.online_mortgage,
                      online_mortgage_since=row.online_mortgage_since, active=True)
        bank = existing.pop(row.name, None)
        if bank is None:
            await Bank.create(name=row.name, **values)
        else:
            await bank.update_from_dict(values).save()
    if existing:
        await Bank.filter(name__in=list(existing)).update(active=False)
    online = sum(1 for r in rows if r.online_mortgage)
    return f"已导入 {len(rows)} 家联网银行（其中 {online} 家已开通抵押登记全程网办）"


async def get_all(*, online_mortgage: bool | None = None) -> list[Bank]:
    qs = Bank.filter(active=True)
    if online_mortgage is not None:
        qs = qs.filter(online_mortgage=online_mortgage)
    return await qs.order_by("id")


async def online_mortgage_names(today: dt.date | None = None) -> list[str]:
    """Names of the banks with fully online mortgage registration in force (since date reached)."""
    return [b.name for b in await get_all(online_mortgage=True)
            if today is None or b.online_mortgage_since is None or b.online_mortgage_since <= today]


async def answer_online_mortgage(today: dt.date | None = None) -> str:
    """The bot's answer to "哪些银行可以网上办抵押", built from the bank data."""
    banks = [b for b in await get_all(online_mortgage=True)
             if today is None or b.online_mortgage_since is None or b.online_mortgage_since <= today]
    total = await Bank.filter(active=True).count()
    if not banks:
        return "目前还没有开通抵押登记全程网办的银行，请预约到大厅办理抵押登记。"
    lines = [f"全市共 {total} 家联网银行，其中 {len(banks)} 家已开通抵押登记全程网办，在这些银行办理贷款即可"
             f"由银行在网上代办抵押登记，无需到登记大厅："]
    for b in banks:
        points = "、".join(p["name"] for p in b.branches or [])
        since = f"（{b.online_mortgage_since:%Y年%m月}起）" if b.online_mortgage_since else ""
        lines.append(f"· {b.name}{since}" + (f"：{points}" if points else ""))
    return "\n".join(lines)


def read(bank: Bank) -> dict:
    return {"id": bank.id, "name": bank.name, "branches": bank.branches or [],
            "online_mortgage": bank.online_mortgage,
            "online_mortgage_since": bank.online_mortgage_since.isoformat() if bank.online_mortgage_since else None}
