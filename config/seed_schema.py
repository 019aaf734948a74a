"""Typed loader for the center's editable seed data (``config/data/*.yaml``).

The registration center's staff edit the YAML files; this module validates
them with pydantic v2 and returns one immutable :class:`Seed`.  Any problem is
reported as :class:`SeedError` whose message names the file and the field
(e.g. ``halls.yaml: halls[2]（code=west）.quota_per_slot: 必须大于 0``), in
Simplified Chinese because the people who read it are the center's staff.

Nothing in here hard-codes a center's facts: values live in the YAML files.
"""

from __future__ import annotations

import datetime as dt
import re
from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "DEFAULT_DATA_DIR",
    "SEED_FILES",
    "BookingMode",
    "BookingRules",
    "BusinessTypeSeed",
    "BusinessTypesFile",
    "CalendarDay",
    "CalendarSeed",
    "CenterSeed",
    "Closure",
    "ExtraServiceDay",
    "FeePolicy",
    "FeeSeed",
    "HallSeed",
    "HallSessions",
    "HallsFile",
    "HandlingMode",
    "HotlineSeed",
    "Seed",
    "SeedError",
    "Session",
    "WalkInChannel",
    "load_seed",
]

DEFAULT_DATA_DIR = Path(__file__).parent / "data"

# file name -> top-level model; order is the load order.
SEED_FILES = (
    "center.yaml",
    "halls.yaml",
    "business_types.yaml",
    "booking_rules.yaml",
    "calendar.yaml",
)

_CODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_HHMM_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class SeedError(ValueError):
    """Invalid or missing seed data. The message names file and field."""

    def __init__(self, file: str, problems: list[str]):
        self.file = file
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"配置文件 {file} 有误：\n{lines}")


# --------------------------------------------------------------------------
# helpers


def _parse_hhmm(value: Any) -> time:
    """Accept "HH:MM" strings (and time objects); reject everything else."""
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # PyYAML (YAML 1.1) reads an unquoted 13:30 as the base-60 int 810.
        raise ValueError('时间须写成带引号的 "HH:MM"，例如 "13:30"（不加引号会被当成数字）')
    if not isinstance(value, str) or not _HHMM_RE.match(value.strip()):
        raise ValueError(f'时间格式应为 "HH:MM"（24 小时制），当前值：{value!r}')
    hh, mm = value.strip().split(":")
    return time(int(hh), int(mm))


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _check_code(value: str) -> str:
    if not _CODE_RE.match(value):
        raise ValueError(f"编码只能由小写英文字母、数字和下划线组成且以字母开头，当前值：{value!r}")
    return value


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("不能为空")
    return value.strip()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


# --------------------------------------------------------------------------
# center.yaml


class HotlineSeed(_Model):
    number: str = Field(min_length=1)
    hours_text: str = Field(min_length=1)
    start: time
    end: time

    _parse_times = field_validator("start", "end", mode="before")(_parse_hhmm)

    @model_validator(mode="after")
    def _start_before_end(self) -> HotlineSeed:
        if self.start >= self.end:
            raise ValueError("热线开始时间必须早于结束时间")
        return self


class CenterSeed(_Model):
    name: str = Field(min_length=1)
    short_name: str = Field(min_length=1)
    hotline: HotlineSeed
    public_account: str = Field(min_length=1)
    public_account_booking_menu: str = Field(min_length=1)
    mini_program: str = Field(min_length=1)
    booking_channels: list[str] = Field(default_factory=list)
    timezone: str = "Asia/Shanghai"
    # 网办率目标（0–1）：管理数据中的网办率与之比较
    online_rate_target: float = Field(default=0.9, ge=0, le=1)

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"未知时区：{value!r}（应为 IANA 时区名，如 Asia/Shanghai）") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# --------------------------------------------------------------------------
# halls.yaml


class Session(_Model):
    """A service period of a hall, e.g. 09:00–12:00. ``start`` < ``end``."""

    start: time
    end: time

    _parse_times = field_validator("start", "end", mode="before")(_parse_hhmm)

    @model_validator(mode="after")
    def _start_before_end(self) -> Session:
        if self.start >= self.end:
            raise ValueError(f"开始时间 {self.start:%H:%M} 必须早于结束时间 {self.end:%H:%M}")
        return self

    @property
    def minutes(self) -> int:
        return _minutes(self.end) - _minutes(self.start)

    def slot_starts(self, slot_minutes: int) -> list[time]:
        """Start times of the slots in this session."""
        first = _minutes(self.start)
        return [
            time(m // 60, m % 60) for m in range(first, _minutes(self.end) - slot_minutes + 1, slot_minutes)
        ]


def _check_sessions(sessions: list[Session]) -> list[Session]:
    for prev, cur in zip(sessions, sessions[1:], strict=False):
        if cur.start < prev.end:
            raise ValueError(
                f"时段须按时间先后排列且不能重叠："
                f"{prev.start:%H:%M}–{prev.end:%H:%M} 与 {cur.start:%H:%M}–{cur.end:%H:%M}"
            )
    return sessions


class ExtendedSession(Session):
    """Extended hours on working days: late = 延时服务, early = 超前服务, optionally between two dates."""

    kind: Literal["late", "early"]
    start_date: dt.date | None = Field(default=None, alias="from")
    until: dt.date | None = None


class HallSessions(_Model):
    weekday: list[Session] = Field(min_length=1)
    saturday: list[Session] = Field(default_factory=list)
    extended: list[ExtendedSession] = Field(default_factory=list)

    _ordered = field_validator("weekday", "saturday")(_check_sessions)


class HallSeed(_Model):
    code: str
    name: str = Field(min_length=1)
    address: str = Field(min_length=1)
    quota_per_slot: int = Field(gt=0)
    hotline_quota: int = Field(ge=0)
    saturday_duty: bool
    sessions: HallSessions
    saturday_booking_only: bool = False
    review_mode: bool = False
    # None = use booking_rules.cancel_release_delay_minutes (filled in by Seed).
    cancel_release_delay_minutes: int | None = Field(default=None, ge=0)

    _code = field_validator("code")(_check_code)

    @model_validator(mode="after")
    def _consistent(self) -> HallSeed:
        if self.hotline_quota > self.quota_per_slot:
            raise ValueError(
                f"hotline_quota（{self.hotline_quota}）不能大于 quota_per_slot（{self.quota_per_slot}）"
            )
        if self.saturday_duty and not self.sessions.saturday:
            raise ValueError("saturday_duty 为 true 时须在 sessions.saturday 中填写周六值班时段")
        if not self.saturday_duty and self.sessions.saturday:
            raise ValueError("saturday_duty 为 false 时 sessions.saturday 须为 []")
        if self.saturday_booking_only and not self.saturday_duty:
            raise ValueError("不值班的大厅 saturday_booking_only 须为 false")
        return self

    @property
    def online_quota(self) -> int:
        """Places per slot bookable online (public account / mini-program)."""
        return self.quota_per_slot - self.hotline_quota


class HallsFile(_Model):
    halls: list[HallSeed] = Field(min_length=1)

    @field_validator("halls")
    @classmethod
    def _unique(cls, halls: list[HallSeed]) -> list[HallSeed]:
        _require_unique([h.code for h in halls], "大厅编码 code")
        _require_unique([h.name for h in halls], "大厅名称 name")
        return halls


# --------------------------------------------------------------------------
# business_types.yaml


class HandlingMode(StrEnum):
    online = "online"  # 全程网办
    optional_online = "optional_online"  # 选择性网办
    hall_only = "hall_only"  # 只能到厅办理


class BookingMode(StrEnum):
    none_online = "none_online"  # 网办无需预约
    required = "required"  # 到厅须预约
    walk_in = "walk_in"  # 免预约


class FeePolicy(_Model):
    residential: int = Field(ge=0)
    non_residential: int = Field(ge=0)
    free_certificates_per_case: int = Field(ge=0)
    certificate_fee: int = Field(ge=0)
    small_micro_enterprise_exempt: bool
    free_business_note: str | None = None
    note: str = Field(min_length=1)


class FeeSeed(_Model):
    """Registration fee of one business type, in yuan.

    ``free`` means no registration fee; ``certificate_fee`` (工本费, yuan per
    certificate) may still apply, e.g. for a reissued certificate.
    """

    free: bool = False
    residential: int | None = Field(default=None, ge=0)
    non_residential: int | None = Field(default=None, ge=0)
    certificate_fee: int | None = Field(default=None, ge=0)
    note: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FeeSeed:
        if self.free:
            if self.residential is not None or self.non_residential is not None:
                raise ValueError("free 为 true 时不能再填写 residential / non_residential")
        elif self.residential is None or self.non_residential is None:
            raise ValueError(
                "收费事项须同时填写 residential（住宅）和 non_residential（非住宅）；免费事项写 free: true"
            )
        return self


class OnlineStep(_Model):
    """One step of a business type's online rollout (e.g. 二手房转移登记 online from 6 月 1 日)."""

    start_date: dt.date = Field(alias="from")
    handling: HandlingMode
    booking: BookingMode
    online_hint: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> OnlineStep:
        if (self.handling is HandlingMode.online) != (self.booking is BookingMode.none_online):
            raise ValueError("online_schedule：全程网办（online）须配 booking: none_online，反之亦然")
        if self.handling is not HandlingMode.hall_only and not self.online_hint:
            raise ValueError("online_schedule：能网上办理的阶段须填写 online_hint")
        return self


class BusinessTypeSeed(_Model):
    code: str
    name: str = Field(min_length=1)
    short_name: str = Field(min_length=1)
    handling: HandlingMode
    handling_note: str | None = None
    booking: BookingMode
    time_limit_days: int = Field(ge=0)
    public_notice_days: int = Field(default=0, ge=0)
    time_limit_text: str = Field(min_length=1)
    fee: FeeSeed
    fee_payer: str | None = None
    materials: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    online_hint: str | None = None
    aliases: list[str] = Field(default_factory=list)
    # Phased online rollout: from each date on, the entry's handling/booking/online_hint replace the above.
    online_schedule: list[OnlineStep] = Field(default_factory=list)

    _code = field_validator("code")(_check_code)

    @field_validator("materials", "notes", "aliases")
    @classmethod
    def _no_blank_items(cls, items: list[str]) -> list[str]:
        return [_non_blank(i) for i in items]

    @model_validator(mode="after")
    def _consistent(self) -> BusinessTypeSeed:
        if (self.handling is HandlingMode.online) != (self.booking is BookingMode.none_online):
            raise ValueError(
                "全程网办（handling: online）的事项 booking 须为 none_online，"
                "且只有全程网办事项可以用 none_online"
            )
        if self.handling is HandlingMode.hall_only and self.online_hint:
            raise ValueError("只能到厅办理（hall_only）的事项 online_hint 须为 null")
        if self.handling is not HandlingMode.hall_only and not self.online_hint:
            raise ValueError("能网上办理的事项须填写 online_hint（如“可网上办理，无需到厅”）")
        return self

    @property
    def total_working_days(self) -> int:
        """Promised working days including any public-notice period."""
        return self.public_notice_days + self.time_limit_days

    @property
    def bookable(self) -> bool:
        return self.booking is BookingMode.required


class WalkInChannel(_Model):
    code: str
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    business_type_codes: list[str] = Field(default_factory=list)

    _code = field_validator("code")(_check_code)


class BusinessTypesFile(_Model):
    fee_policy: FeePolicy
    business_types: list[BusinessTypeSeed] = Field(min_length=1)
    walk_in_channels: list[WalkInChannel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_check(self) -> BusinessTypesFile:
        codes = [b.code for b in self.business_types]
        _require_unique(codes, "业务事项编码 code")
        _require_unique([b.name for b in self.business_types], "业务事项名称 name")
        _require_unique([w.code for w in self.walk_in_channels], "免预约情形编码 code")
        seen: dict[str, str] = {}
        for b in self.business_types:
            for alias in b.aliases:
                if alias in seen and seen[alias] != b.code:
                    raise ValueError(
                        f"常用说法“{alias}”同时出现在 {seen[alias]} 和 {b.code} 中，各事项之间不能重复"
                    )
                seen[alias] = b.code
        known = set(codes)
        for w in self.walk_in_channels:
            unknown = [c for c in w.business_type_codes if c not in known]
            if unknown:
                raise ValueError(
                    f"walk_in_channels 中 {w.code} 引用了不存在的业务事项编码：{', '.join(unknown)}"
                )
        return self


# --------------------------------------------------------------------------
# booking_rules.yaml


class BookingRules(_Model):
    slot_minutes: int = Field(gt=0, le=240)
    window_days: int = Field(ge=1)
    release_time: time
    same_day_cutoff_minutes: int = Field(ge=0)
    per_id_per_day: int = Field(ge=1)
    max_active: int = Field(ge=1)
    cancel_cutoff_minutes: int = Field(ge=0)
    checkin_open_before_minutes: int = Field(ge=0)
    no_show_limit: int = Field(ge=1)
    no_show_window_days: int = Field(ge=1)
    suspension_days: int = Field(ge=0)
    cancel_release_delay_minutes: int = Field(default=0, ge=0)
    reminder_time: time
    idempotency_ttl_seconds: int = Field(gt=0)

    _parse_times = field_validator("release_time", "reminder_time", mode="before")(_parse_hhmm)


# --------------------------------------------------------------------------
# calendar.yaml


class CalendarDay(_Model):
    date: dt.date
    name: str = Field(min_length=1)


def _parse_halls(value: Any) -> Any:
    if value is None:
        return "all"
    return value


class _HallsDay(_Model):
    """A dated entry that applies to some halls (or "all") and optionally only to some sessions."""

    date: dt.date
    halls: Literal["all"] | list[str] = "all"
    sessions: list[Session] | None = None

    _halls = field_validator("halls", mode="before")(_parse_halls)
    _ordered = field_validator("sessions")(lambda v: v if v is None else _check_sessions(v))

    def applies_to(self, hall_code: str) -> bool:
        return self.halls == "all" or hall_code in self.halls


class ExtraServiceDay(_HallsDay):
    """A day (usually a weekend) on which halls open additionally; sessions None = each hall's weekday sessions."""

    name: str = Field(min_length=1)


class Closure(_HallsDay):
    """A temporary closure of some halls; sessions None = closed all day."""

    reason: str = Field(min_length=1)


class CalendarSeed(_Model):
    provisional_years: list[int] = Field(default_factory=list)
    holidays: list[CalendarDay] = Field(default_factory=list)
    workdays: list[CalendarDay] = Field(default_factory=list)
    extra_service_days: list[ExtraServiceDay] = Field(default_factory=list)
    closures: list[Closure] = Field(default_factory=list)

    @field_validator("holidays", "workdays", "extra_service_days", "closures", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("holidays", "extra_service_days")
    @classmethod
    def _unique_dates(cls, items: list[Any]) -> list[Any]:
        _require_unique([d.date for d in items], "日期")
        return items

    @field_validator("workdays")
    @classmethod
    def _weekend_workdays(cls, items: list[CalendarDay]) -> list[CalendarDay]:
        _require_unique([d.date for d in items], "日期")
        weekdays = [d.date for d in items if d.date.weekday() < 5]
        if weekdays:
            raise ValueError(
                "workdays 只用于调休上班的周六、周日，以下日期本来就是工作日："
                + "、".join(map(str, weekdays))
            )
        return items

    @model_validator(mode="after")
    def _consistent(self) -> CalendarSeed:
        both = sorted({d.date for d in self.holidays} & {d.date for d in self.workdays})
        if both:
            raise ValueError("以下日期同时出现在 holidays 和 workdays 中：" + "、".join(map(str, both)))
        return self

    def holiday_dates(self) -> frozenset[dt.date]:
        return frozenset(d.date for d in self.holidays)

    def workday_dates(self) -> frozenset[dt.date]:
        return frozenset(d.date for d in self.workdays)

    def is_provisional(self, day: dt.date) -> bool:
        return day.year in self.provisional_years


# --------------------------------------------------------------------------
# the whole seed


class Seed(_Model):
    center: CenterSeed
    halls: list[HallSeed]
    fee_policy: FeePolicy
    business_types: list[BusinessTypeSeed]
    walk_in_channels: list[WalkInChannel]
    booking_rules: BookingRules
    calendar: CalendarSeed

    def hall(self, code: str) -> HallSeed:
        for h in self.halls:
            if h.code == code:
                return h
        raise KeyError(code)

    def business_type(self, code: str) -> BusinessTypeSeed:
        for b in self.business_types:
            if b.code == code:
                return b
        raise KeyError(code)

    @property
    def halls_by_code(self) -> dict[str, HallSeed]:
        return {h.code: h for h in self.halls}

    @property
    def business_types_by_code(self) -> dict[str, BusinessTypeSeed]:
        return {b.code: b for b in self.business_types}


def _cross_file_problems(
    halls: list[HallSeed], rules: BookingRules, calendar: CalendarSeed
) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    slot = rules.slot_minutes
    for i, h in enumerate(halls):
        for kind in ("weekday", "saturday"):
            for j, s in enumerate(getattr(h.sessions, kind)):
                if s.minutes % slot:
                    problems.setdefault("halls.yaml", []).append(
                        f"halls[{i}]（code={h.code}）.sessions.{kind}[{j}]："
                        f"时段 {s.start:%H:%M}–{s.end:%H:%M} 共 {s.minutes} 分钟，"
                        f"不是 booking_rules.yaml 中 slot_minutes（{slot}）的整数倍"
                    )
    codes = {h.code for h in halls}
    for field in ("extra_service_days", "closures"):
        for i, item in enumerate(getattr(calendar, field)):
            for j, s in enumerate(item.sessions or []):
                if s.minutes % slot:
                    problems.setdefault("calendar.yaml", []).append(
                        f"{field}[{i}].sessions[{j}]：时段长度 {s.minutes} 分钟"
                        f"不是 slot_minutes（{slot}）的整数倍"
                    )
            if item.halls != "all":
                unknown = [c for c in item.halls if c not in codes]
                if unknown:
                    problems.setdefault("calendar.yaml", []).append(
                        f"{field}[{i}]（{item.date}）.halls：不存在的大厅编码 {', '.join(unknown)}"
                        f"（可用：{', '.join(sorted(codes))}，或写 all）"
                    )
    return problems


# --------------------------------------------------------------------------
# error formatting

_MESSAGES = {
    "missing": "缺少必填字段",
    "extra_forbidden": "未知字段（是否拼写错误？）",
    "int_type": "必须是整数",
    "int_parsing": "必须是整数",
    "int_from_float": "必须是整数",
    "bool_type": "必须是 true 或 false",
    "bool_parsing": "必须是 true 或 false",
    "string_type": "必须是文字",
    "list_type": "必须是列表",
    "dict_type": "必须是一组“字段: 值”",
    "model_type": "必须是一组“字段: 值”",
    "model_attributes_type": "必须是一组“字段: 值”",
    "date_type": "必须是日期（YYYY-MM-DD）",
    "date_parsing": "必须是日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "必须是日期（YYYY-MM-DD）",
    "enum": "取值只能是 {expected}",
    "literal_error": "取值只能是 {expected}",
    "greater_than": "必须大于 {gt}",
    "greater_than_equal": "必须大于或等于 {ge}",
    "less_than": "必须小于 {lt}",
    "less_than_equal": "必须小于或等于 {le}",
    "too_short": "至少需要 {min_length} 项",
    "string_too_short": "不能为空",
}


def _describe(err: dict[str, Any]) -> str:
    template = _MESSAGES.get(err["type"])
    if err["type"] == "value_error":
        msg = str(err.get("ctx", {}).get("error", err["msg"]))
    elif template:
        try:
            msg = template.format(**err.get("ctx", {}))
        except (KeyError, IndexError):
            msg = err["msg"]
    else:
        msg = err["msg"]
    if err["type"] in ("enum", "literal_error"):
        msg = msg.replace(" or ", "、").replace(", ", "、")
    if err["type"] not in ("missing", "extra_forbidden") and "input" in err and "当前值" not in msg:
        value = err["input"]
        if not isinstance(value, (dict, list)):
            msg += f"（当前值：{value!r}）"
    return msg


def _format_loc(loc: tuple[Any, ...], data: Any) -> str:
    """('halls', 2, 'quota_per_slot') -> 'halls[2]（code=west）.quota_per_slot'."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            try:
                node = node[part]
            except (IndexError, KeyError, TypeError):
                node = None
            if isinstance(node, dict) and "code" in node:
                out += f"（code={node['code']}）"
            elif isinstance(node, dict) and "date" in node:
                out += f"（{node['date']}）"
        else:
            # pydantic adds union-member / validator tags such as 'list[str]'
            # or 'function-after[...]'; they mean nothing to the editor.
            if not isinstance(node, dict) or part not in node:
                if out and (("[" in str(part)) or str(part) in ("str", "int")):
                    continue
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "（文件顶层）"


def _validate(model: type[BaseModel], data: Any, file: str) -> Any:
    if data is None:
        raise SeedError(file, ["文件为空"])
    if not isinstance(data, dict):
        raise SeedError(file, ["文件顶层必须是一组“字段: 值”"])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            problems.append(f"{_format_loc(err['loc'], data)}：{_describe(err)}")
        raise SeedError(file, problems) from None


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SeedError(path.name, [f"找不到文件 {path}"]) from None
    except UnicodeDecodeError:
        raise SeedError(path.name, ["文件须以 UTF-8 编码保存"]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        context = getattr(exc, "context_mark", None)
        if mark is not None:
            where = f"第 {mark.line + 1} 行第 {mark.column + 1} 列"
            if context is not None and context.line != mark.line:
                where += f"（问题可能始于第 {context.line + 1} 行）"
            where += "："
        problem = getattr(exc, "problem", None) or str(exc)
        raise SeedError(path.name, [f"{where}YAML 格式错误（{problem}）"]) from None


def load_seed(data_dir: Path | None = None) -> Seed:
    """Load and validate all seed files from ``data_dir`` (default: ``config/data``).

    Raises :class:`SeedError` naming the file and field on invalid data.
    """
    data_dir = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    raw = {name: _read_yaml(data_dir / name) for name in SEED_FILES}

    center: CenterSeed = _validate(CenterSeed, raw["center.yaml"], "center.yaml")
    halls: HallsFile = _validate(HallsFile, raw["halls.yaml"], "halls.yaml")
    business: BusinessTypesFile = _validate(
        BusinessTypesFile, raw["business_types.yaml"], "business_types.yaml"
    )
    rules: BookingRules = _validate(BookingRules, raw["booking_rules.yaml"], "booking_rules.yaml")
    calendar: CalendarSeed = _validate(CalendarSeed, raw["calendar.yaml"], "calendar.yaml")

    problems = _cross_file_problems(halls.halls, rules, calendar)
    if problems:
        file, items = next(iter(problems.items()))
        raise SeedError(file, items)

    resolved_halls = [
        h
        if h.cancel_release_delay_minutes is not None
        else h.model_copy(update={"cancel_release_delay_minutes": rules.cancel_release_delay_minutes})
        for h in halls.halls
    ]
    return Seed(
        center=center,
        halls=resolved_halls,
        fee_policy=business.fee_policy,
        business_types=business.business_types,
        walk_in_channels=business.walk_in_channels,
        booking_rules=rules,
        calendar=calendar,
    )


def _require_unique(values: list[Any], what: str) -> None:
    seen: set[Any] = set()
    dups: list[str] = []
    for v in values:
        if v in seen and str(v) not in dups:
            dups.append(str(v))
        seen.add(v)
    if dups:
        raise ValueError(f"{what} 不能重复：{'、'.join(dups)}")
