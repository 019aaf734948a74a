"""The shipped seed data (config/data/*.yaml) matches the published guide
(/work/shared/policy/guide.md), and broken copies fail with useful messages."""

from __future__ import annotations

import shutil
import sys
from datetime import date, time, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from config.seed_schema import (  # noqa: E402
    DEFAULT_DATA_DIR,
    SEED_FILES,
    BookingMode,
    HandlingMode,
    SeedError,
    load_seed,
)


@pytest.fixture(scope="module")
def seed():
    return load_seed()


@pytest.fixture()
def data_copy(tmp_path: Path) -> Path:
    for name in SEED_FILES:
        shutil.copy(DEFAULT_DATA_DIR / name, tmp_path / name)
    return tmp_path


def _edit(directory: Path, file: str, old: str, new: str) -> None:
    path = directory / file
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {file}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# ---------------------------------------------------------------- center


def test_center(seed):
    c = seed.center
    assert c.name == "示例市不动产登记中心"
    assert c.hotline.number == "96510"
    assert (c.hotline.start, c.hotline.end) == (time(9), time(17))
    assert "9:00–17:00" in c.hotline.hours_text
    assert c.public_account == "示例不动产"
    assert c.mini_program == "示例不动产登记"
    assert c.public_account_booking_menu == "预约办事"
    assert c.timezone == "Asia/Shanghai"
    assert str(c.tz) == "Asia/Shanghai"
    assert any("96510" in ch for ch in c.booking_channels)


# ---------------------------------------------------------------- halls

GUIDE_HALLS = {
    # code: (name, address, saturday duty, quota per half hour)
    "center": ("中心大厅", "市政务服务中心 2 楼", True, 30),
    "east": ("城东大厅", "东城路 18 号", False, 20),
    "west": ("城西大厅", "西苑大道 66 号", False, 20),
    "south": ("城南大厅", "南湖路 101 号", False, 15),
    "north": ("城北大厅", "北站街 9 号", False, 15),
    "newdistrict": ("新区大厅", "新区市民中心 1 楼", True, 25),
}


def test_six_halls_match_guide(seed):
    assert [h.code for h in seed.halls] == list(GUIDE_HALLS)
    for h in seed.halls:
        name, address, duty, quota = GUIDE_HALLS[h.code]
        assert (h.name, h.address, h.saturday_duty, h.quota_per_slot) == (name, address, duty, quota)
        assert h.review_mode is False
        assert h.cancel_release_delay_minutes == 0


def test_hotline_quota_is_about_a_fifth(seed):
    assert {h.code: h.hotline_quota for h in seed.halls} == {
        "center": 6,
        "east": 4,
        "west": 4,
        "south": 3,
        "north": 3,
        "newdistrict": 5,
    }
    for h in seed.halls:
        assert h.online_quota == h.quota_per_slot - h.hotline_quota > 0


def test_saturday_duty_halls(seed):
    duty = {h.name for h in seed.halls if h.saturday_duty}
    assert duty == {"中心大厅", "新区大厅"}
    for h in seed.halls:
        if h.saturday_duty:
            assert [(s.start, s.end) for s in h.sessions.saturday] == [(time(9), time(12))]
            assert h.saturday_booking_only is True
        else:
            assert h.sessions.saturday == []
            assert h.saturday_booking_only is False


def test_weekday_sessions_give_6_plus_7_slots(seed):
    slot = seed.booking_rules.slot_minutes
    for h in seed.halls:
        am, pm = h.sessions.weekday
        assert (am.start, am.end, pm.start, pm.end) == (time(9), time(12), time(13, 30), time(17))
        assert len(am.slot_starts(slot)) == 6
        assert len(pm.slot_starts(slot)) == 7
        assert pm.slot_starts(slot)[-1] == time(16, 30)


# ---------------------------------------------------------------- business types

# code: (handling, booking, time_limit_days, public_notice_days)
GUIDE_TABLE = {
    "presale_notice": ("online", "none_online", 1, 0),
    "presale_to_final": ("online", "none_online", 1, 0),
    "new_home_transfer": ("online", "none_online", 3, 0),
    "secondhand_transfer": ("optional_online", "required", 3, 0),
    "mortgage_first": ("optional_online", "required", 1, 0),
    "mortgage_cancel": ("optional_online", "required", 0, 0),
    "change": ("optional_online", "required", 3, 0),
    "deregistration": ("optional_online", "required", 3, 0),
    "seizure": ("optional_online", "walk_in", 0, 0),
    "info_query": ("optional_online", "required", 0, 0),
    "housing_certificate": ("optional_online", "required", 0, 0),
    "inheritance": ("hall_only", "required", 3, 15),
    "certificate_reissue": ("hall_only", "required", 3, 15),
}


def test_thirteen_business_types_match_table(seed):
    assert [b.code for b in seed.business_types] == list(GUIDE_TABLE)
    for b in seed.business_types:
        handling, booking, days, notice = GUIDE_TABLE[b.code]
        assert b.handling is HandlingMode(handling), b.code
        assert b.booking is BookingMode(booking), b.code
        assert (b.time_limit_days, b.public_notice_days) == (days, notice), b.code
        if days == 0:
            assert b.time_limit_text == "即时办结"
        assert b.name and b.short_name and b.time_limit_text
    assert seed.business_type("inheritance").total_working_days == 18


def test_names_and_handling_notes(seed):
    bt = seed.business_type
    assert bt("presale_notice").name == "商品房预告登记、预告抵押登记（双预告）"
    assert bt("presale_notice").handling_note == "开发企业、银行、公积金中心代办"
    assert bt("presale_to_final").handling_note == "银行、公积金中心代办"
    assert bt("new_home_transfer").handling_note == "开发企业代办"
    assert bt("mortgage_first").handling_note == "合作银行全程网办"
    assert bt("seizure").handling_note == "司法机关专线"
    assert "继承" in bt("inheritance").name and "非公证" in bt("inheritance").name


def test_walk_in(seed):
    walk_in = [b.code for b in seed.business_types if b.booking is BookingMode.walk_in]
    assert walk_in == ["seizure"]
    channels = {w.code: w for w in seed.walk_in_channels}
    assert len(channels) == 3
    text = "".join(w.name + w.description for w in channels.values())
    for phrase in ("防疫相关企业", "复工复产实体企业", "个人房产为企业借款提供担保"):
        assert phrase in text
    assert channels["personal_guarantee_mortgage"].business_type_codes == ["mortgage_first"]


def test_fees(seed):
    fp = seed.fee_policy
    assert (fp.residential, fp.non_residential, fp.certificate_fee) == (80, 550, 10)
    assert fp.free_certificates_per_case == 1 and fp.small_micro_enterprise_exempt

    free = {b.code for b in seed.business_types if b.fee.free}
    assert {"mortgage_cancel", "deregistration", "seizure", "info_query"} <= free
    assert {"change", "certificate_reissue"} <= free  # no registration fee, only 工本费
    for b in seed.business_types:
        if not b.fee.free:
            assert (b.fee.residential, b.fee.non_residential) == (80, 550), b.code
    assert seed.business_type("change").fee.certificate_fee == 10
    assert seed.business_type("certificate_reissue").fee.certificate_fee == 10
    assert seed.business_type("secondhand_transfer").fee_payer.startswith("买方")
    assert seed.business_type("mortgage_first").fee_payer == "抵押权人"


def test_materials_from_subsections(seed):
    def mats(code):
        return "；".join(seed.business_type(code).materials)

    assert "经网签备案的存量房买卖合同" in mats("secondhand_transfer")
    assert "完税凭证" in mats("secondhand_transfer")
    assert "主债权合同及抵押合同" in mats("mortgage_first")
    assert "他项权证" in mats("mortgage_cancel")
    assert "专项维修资金缴纳凭证" in mats("new_home_transfer")
    assert "被继承人死亡证明" in mats("inheritance")
    assert "协助执行通知书" in mats("seizure")
    assert "遗失声明" in mats("certificate_reissue")
    assert "婚姻证明" in mats("housing_certificate")
    assert any("抵押" in n for n in seed.business_type("secondhand_transfer").notes)


def test_online_hints(seed):
    for b in seed.business_types:
        if b.handling is HandlingMode.hall_only:
            assert b.online_hint is None, b.code
        else:
            assert "无需到厅" in b.online_hint, b.code
    for b in seed.business_types:
        if b.booking is BookingMode.required and b.handling is not HandlingMode.hall_only:
            assert b.online_hint.startswith("可网上办理，无需到厅"), b.code


@pytest.mark.parametrize(
    "alias, code",
    [
        ("过户", "secondhand_transfer"),
        ("买卖过户", "secondhand_transfer"),
        ("新房办证", "new_home_transfer"),
        ("交房办证", "new_home_transfer"),
        ("按揭", "mortgage_first"),
        ("贷款抵押", "mortgage_first"),
        ("解押", "mortgage_cancel"),
        ("还清贷款后注销", "mortgage_cancel"),
        ("查档", "info_query"),
        ("查房", "info_query"),
        ("查名下房产", "info_query"),
        ("购房证明", "housing_certificate"),
        ("无房证明", "housing_certificate"),
    ],
)
def test_aliases_from_section_7(seed, alias, code):
    owners = [b.code for b in seed.business_types if alias in b.aliases]
    assert owners == [code]


# ---------------------------------------------------------------- booking rules


def test_booking_rules(seed):
    r = seed.booking_rules
    assert r.slot_minutes == 30
    assert r.window_days == 7
    assert r.release_time == time(8)
    assert r.same_day_cutoff_minutes == 60
    assert (r.per_id_per_day, r.max_active) == (1, 3)
    assert r.cancel_cutoff_minutes == 120
    assert r.checkin_open_before_minutes == 30
    assert (r.no_show_limit, r.no_show_window_days, r.suspension_days) == (3, 90, 30)
    assert r.cancel_release_delay_minutes == 0
    assert r.reminder_time == time(18)
    assert r.idempotency_ttl_seconds == 86400


# ---------------------------------------------------------------- calendar

OFFICIAL_2026_HOLIDAYS = [
    ("2026-01-01", "2026-01-03"),
    ("2026-02-15", "2026-02-23"),
    ("2026-04-04", "2026-04-06"),
    ("2026-05-01", "2026-05-05"),
    ("2026-06-19", "2026-06-21"),
    ("2026-09-25", "2026-09-27"),
    ("2026-10-01", "2026-10-07"),
]
OFFICIAL_2026_WORKDAYS = ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"]


def _days(a: str, b: str) -> set[date]:
    d, end = date.fromisoformat(a), date.fromisoformat(b)
    out = set()
    while d <= end:
        out.add(d)
        d += timedelta(days=1)
    return out


def test_calendar_2026_is_official(seed):
    cal = seed.calendar
    expected = set().union(*(_days(a, b) for a, b in OFFICIAL_2026_HOLIDAYS))
    assert {d for d in cal.holiday_dates() if d.year == 2026} == expected
    assert {d for d in cal.workday_dates() if d.year == 2026} == {
        date.fromisoformat(d) for d in OFFICIAL_2026_WORKDAYS
    }
    assert all(d.weekday() >= 5 for d in cal.workday_dates())
    assert not cal.is_provisional(date(2026, 5, 1))


def test_calendar_2027_is_provisional(seed):
    cal = seed.calendar
    assert 2027 in cal.provisional_years and cal.is_provisional(date(2027, 1, 1))
    hol_2027 = {d for d in cal.holiday_dates() if d.year == 2027}
    assert {date(2027, 1, 1), date(2027, 10, 1)} <= hol_2027
    assert cal.extra_service_days == [] and cal.closures == []
    text = (DEFAULT_DATA_DIR / "calendar.yaml").read_text(encoding="utf-8")
    assert "以国务院公布为准" in text and "每年更新" in text


# ---------------------------------------------------------------- loader


def test_default_dir_and_explicit_dir_agree(data_copy):
    assert load_seed(data_copy) == load_seed() == load_seed(DEFAULT_DATA_DIR)


def test_hall_without_delay_inherits_global(data_copy):
    _edit(
        data_copy, "booking_rules.yaml", "cancel_release_delay_minutes: 0", "cancel_release_delay_minutes: 5"
    )
    _edit(data_copy, "halls.yaml", "    cancel_release_delay_minutes: 0\n", "")  # first hall only
    seed = load_seed(data_copy)
    assert seed.hall("center").cancel_release_delay_minutes == 5
    assert seed.hall("east").cancel_release_delay_minutes == 0


def test_calendar_extras_load(data_copy):
    _edit(
        data_copy,
        "calendar.yaml",
        "extra_service_days: []",
        "extra_service_days:\n"
        '  - {date: 2026-03-21, name: "周末临时加开服务窗口", halls: all}\n'
        "  - date: 2026-03-22\n"
        '    name: "周末临时加开服务窗口"\n'
        "    halls: [center, newdistrict]\n"
        '    sessions: [{start: "09:00", end: "12:00"}]',
    )
    _edit(
        data_copy,
        "calendar.yaml",
        "closures: []",
        'closures:\n  - {date: 2026-07-15, reason: "系统升级", halls: [south]}',
    )
    cal = load_seed(data_copy).calendar
    sat, sun = cal.extra_service_days
    assert sat.applies_to("north") and sat.sessions is None
    assert sun.applies_to("center") and not sun.applies_to("east")
    assert cal.closures[0].applies_to("south") and cal.closures[0].sessions is None


@pytest.mark.parametrize(
    "file, old, new, expected",
    [
        (
            "halls.yaml",
            "quota_per_slot: 20",
            "quota_per_slot: -5",
            ["halls.yaml", "halls[1]", "code=east", "quota_per_slot", "必须大于 0"],
        ),
        (
            "halls.yaml",
            "quota_per_slot: 15",
            "quota_per_slots: 15",
            ["halls.yaml", "code=south", "quota_per_slots", "未知字段"],
        ),
        (
            "halls.yaml",
            "hotline_quota: 6",
            "hotline_quota: 31",
            ["halls.yaml", "code=center", "hotline_quota", "不能大于"],
        ),
        (
            "halls.yaml",
            '{start: "13:30", end: "17:00"}',
            '{start: 13:30, end: "17:00"}',
            ["halls.yaml", "sessions.weekday[1].start", "带引号"],
        ),
        (
            "halls.yaml",
            '{start: "13:30", end: "17:00"}',
            '{start: "17:30", end: "17:00"}',
            ["halls.yaml", "sessions.weekday[1]", "必须早于"],
        ),
        (
            "halls.yaml",
            '{start: "13:30", end: "17:00"}',
            '{start: "13:30", end: "17:10"}',
            ["halls.yaml", "sessions.weekday[1]", "slot_minutes"],
        ),
        (
            "halls.yaml",
            "saturday_duty: false",
            "saturday_duty: true",
            ["halls.yaml", "code=east", "sessions.saturday"],
        ),
        ("halls.yaml", "code: west", "code: east", ["halls.yaml", "不能重复", "east"]),
        (
            "business_types.yaml",
            "handling: hall_only",
            "handling: offline",
            ["business_types.yaml", "code=inheritance", "handling", "hall_only"],
        ),
        (
            "business_types.yaml",
            "booking: walk_in",
            "booking: none_online",
            ["business_types.yaml", "code=seizure", "none_online"],
        ),
        (
            "business_types.yaml",
            "time_limit_days: 1",
            "time_limit_days: 一天",
            ["business_types.yaml", "code=presale_notice", "time_limit_days", "整数"],
        ),
        ("business_types.yaml", '"按揭", ', '"解押", ', ["business_types.yaml", "解押", "不能重复"]),
        (
            "business_types.yaml",
            "business_type_codes: [mortgage_first]",
            "business_type_codes: [mortgage]",
            ["business_types.yaml", "mortgage"],
        ),
        ("booking_rules.yaml", "window_days: 7", "window_days: 0", ["booking_rules.yaml", "window_days"]),
        (
            "booking_rules.yaml",
            'release_time: "08:00"',
            'release_time: "8点"',
            ["booking_rules.yaml", "release_time", "HH:MM"],
        ),
        (
            "calendar.yaml",
            '{date: 2026-01-04, name: "元旦调休上班"}',
            '{date: 2026-01-05, name: "元旦调休上班"}',
            ["calendar.yaml", "workdays", "2026-01-05"],
        ),
        (
            "calendar.yaml",
            '{date: 2026-01-04, name: "元旦调休上班"}',
            '{date: 2026-01-03, name: "元旦调休上班"}',
            ["calendar.yaml", "holidays", "workdays", "2026-01-03"],
        ),
        (
            "calendar.yaml",
            "extra_service_days: []",
            'extra_service_days:\n  - {date: 2026-03-21, name: "加开", halls: [centre]}',
            ["calendar.yaml", "extra_service_days[0]", "centre"],
        ),
        (
            "center.yaml",
            'timezone: "Asia/Shanghai"',
            'timezone: "Asia/Beijing"',
            ["center.yaml", "timezone", "Asia/Beijing"],
        ),
        ("center.yaml", 'name: "示例市不动产登记中心"', "name: [oops", ["center.yaml", "YAML", "行"]),
    ],
)
def test_invalid_copy_raises_clear_error(data_copy, file, old, new, expected):
    _edit(data_copy, file, old, new)
    with pytest.raises(SeedError) as info:
        load_seed(data_copy)
    message = str(info.value)
    assert info.value.file == file
    for part in expected:
        assert part in message, f"{part!r} not in:\n{message}"


def test_missing_file(data_copy):
    (data_copy / "booking_rules.yaml").unlink()
    with pytest.raises(SeedError, match="booking_rules.yaml"):
        load_seed(data_copy)


def test_empty_file(data_copy):
    (data_copy / "center.yaml").write_text("# 空\n", encoding="utf-8")
    with pytest.raises(SeedError, match="center.yaml"):
        load_seed(data_copy)
