"""Identity validators and maskers, checked against independent reference code."""

from __future__ import annotations

import re
from datetime import date

import pytest

from server.identity.validators import (
    InvalidIdentity,
    birth_date,
    credit_code_check_char,
    gender,
    id_last6,
    mask_credit_code,
    mask_id,
    mask_mobile,
    mask_name,
    resident_id_check_char,
    validate_credit_code,
    validate_mobile,
    validate_name,
    validate_resident_id,
)

# The worked example printed in GB 11643-1999.
GB_SAMPLE_ID = "11010519491231002X"
# A real, published unified social credit code (Fuzhou).
SAMPLE_CREDIT_CODE = "91350100M000100Y43"


def ref_id_check(first17: str) -> str:
    """Independent formulation: weight_i = 2^(17-i) mod 11, check = (12 - S mod 11) mod 11."""
    s = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    c = (12 - s % 11) % 11
    return "X" if c == 10 else str(c)


def make_id(first17: str) -> str:
    return first17 + ref_id_check(first17)


CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def ref_credit_check(first17: str) -> str:
    """Independent formulation: weight_i = 3^i mod 31."""
    s = sum(CREDIT_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(first17))
    return CREDIT_ALPHABET[(31 - s % 31) % 31]


def code_of(fn, *args, **kwargs) -> str:
    with pytest.raises(InvalidIdentity) as exc:
        fn(*args, **kwargs)
    # Every error carries a user-facing message, in Chinese from its first character.
    assert re.match(r"[\u4e00-\u9fff]", exc.value.message), exc.value.message
    return exc.value.code


# ------------------------------------------------------------- resident ID


def test_reference_check_digit_matches_gb_sample():
    # Guards the reference implementation the other tests rely on.
    assert ref_id_check(GB_SAMPLE_ID[:17]) == "X"


def test_gb_sample_id_is_valid():
    assert validate_resident_id(GB_SAMPLE_ID) == GB_SAMPLE_ID


@pytest.mark.parametrize(
    "first17",
    [
        "32010519800101001",
        "44030419991231123",
        "65010220000229456",  # leap day
        "81000019700101002",  # HK resident residence permit region
        "51010219000101003",  # earliest accepted year
    ],
)
def test_computed_ids_are_valid(first17):
    valid = make_id(first17)
    assert validate_resident_id(valid) == valid
    assert resident_id_check_char(first17) == valid[-1]


def test_check_char_agrees_with_reference_over_many_inputs():
    # Covers all eleven remainders, including the X case.
    seen = set()
    for n in range(2000):
        first17 = f"3201{n * 7919 % 100:02d}1985{(n % 12) + 1:02d}{(n % 28) + 1:02d}{n % 1000:03d}"
        assert resident_id_check_char(first17) == ref_id_check(first17)
        seen.add(ref_id_check(first17))
    assert len(seen) == 11


def test_normalises_lowercase_x_fullwidth_and_spaces():
    assert validate_resident_id("11010519491231002x") == GB_SAMPLE_ID
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in "11010519491231002x")
    assert validate_resident_id(fullwidth) == GB_SAMPLE_ID
    assert validate_resident_id("  110105 19491231 002X\n") == GB_SAMPLE_ID


@pytest.mark.parametrize("wrong_last", "0123456789")
def test_wrong_check_char_is_rejected(wrong_last):
    assert code_of(validate_resident_id, GB_SAMPLE_ID[:17] + wrong_last) == "ID_NUMBER_CHECKSUM"


def test_single_digit_typo_is_caught():
    valid = make_id("32010519800101001")
    typo = valid[:10] + ("1" if valid[10] != "1" else "2") + valid[11:]  # month 01 -> 11/02
    assert code_of(validate_resident_id, typo) == "ID_NUMBER_CHECKSUM"


def test_checksum_error_message_is_chinese():
    with pytest.raises(InvalidIdentity) as exc:
        validate_resident_id(GB_SAMPLE_ID[:17] + "1")
    assert exc.value.message == "身份证号校验位不正确，请核对后重新输入"
    assert str(exc.value) == exc.value.message


@pytest.mark.parametrize(
    "birth",
    [
        "19990230",  # no 30 February
        "20010229",  # not a leap year
        "19851301",  # month 13
        "19850100",  # day 0
        "18991231",  # before 1900
    ],
)
def test_impossible_birth_dates(birth):
    # A correct check digit, so only the date can be the reason.
    assert code_of(validate_resident_id, make_id(f"320105{birth}001")) == "ID_NUMBER_BIRTHDATE"


def test_future_birth_date_relative_to_today():
    tomorrow = make_id("32010520250102001")
    assert code_of(validate_resident_id, tomorrow, today=date(2025, 1, 1)) == "ID_NUMBER_BIRTHDATE"
    assert validate_resident_id(tomorrow, today=date(2025, 1, 2)) == tomorrow
    far_future = make_id("32010521000101001")
    assert code_of(validate_resident_id, far_future) == "ID_NUMBER_BIRTHDATE"


@pytest.fixture
def server_zone():
    """Set the process's local time zone (a POSIX TZ string, no tzdata needed) for one test; restored after."""
    import os
    import time

    old = os.environ.get("TZ")

    def set_zone(tz: str) -> None:
        os.environ["TZ"] = tz
        time.tzset()

    yield set_zone
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_born_today_is_judged_by_the_date_in_china_whatever_the_servers_zone(server_zone):
    """Today is the date in China (UTC+8, the centre's date), not the server's: containers often run in UTC.

    The server's zone is put a calendar day away from China's: 20 hours behind (POSIX ``WEST+12`` = UTC-12,
    the day before in China until 20:00) or 6 hours ahead (``EAST-14`` = UTC+14, the next day from 18:00),
    chosen by the hour in China with an hour's margin either way.
    """
    from datetime import datetime, timedelta, timezone

    china_now = datetime.now(timezone(timedelta(hours=8)))
    if china_now.hour < 19:
        server_zone("WEST+12")
        assert datetime.now().date() == china_now.date() - timedelta(days=1)  # the set-up did move the date
        born_today = make_id(f"320105{china_now:%Y%m%d}001")
        assert validate_resident_id(born_today) == born_today  # a baby born today in China
    else:
        server_zone("EAST-14")
        assert datetime.now().date() == china_now.date() + timedelta(days=1)
        tomorrow = make_id(f"320105{china_now + timedelta(days=1):%Y%m%d}001")
        assert code_of(validate_resident_id, tomorrow) == "ID_NUMBER_BIRTHDATE"  # not born yet in China


@pytest.mark.parametrize(
    ("value", "code", "message"),
    [
        ("1101051949123100", "ID_NUMBER_FORMAT", "身份证号格式不正确，应为18位，最后一位可以是数字或X"),
        ("01010519491231002X", "ID_NUMBER_FORMAT", "身份证号地区码不正确，请核对后重新输入"),
        ("110105" "18991231" "0021", "ID_NUMBER_BIRTHDATE", "身份证号中的出生日期不正确，请核对后重新输入"),
        ("11010519491231002" "1", "ID_NUMBER_CHECKSUM", "身份证号校验位不正确，请核对后重新输入"),
    ],
)
def test_each_refusal_says_what_to_fix(value, code, message):
    # The applicant sees these words; the format hint names the check character as an upper-case X.
    with pytest.raises(InvalidIdentity) as exc:
        validate_resident_id(value)
    assert (exc.value.code, exc.value.message) == (code, message)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "110105194912310",  # old 15-digit format
        "11010519491231002",  # 17 chars
        "11010519491231002XX",  # 19 chars
        "1101051949123100X2",  # X not last
        "11010519491231002Y",
        "1101051949123A002X",
        None,
        11010519491231002,
    ],
)
def test_format_errors(value):
    assert code_of(validate_resident_id, value) == "ID_NUMBER_FORMAT"


@pytest.mark.parametrize("first_digit", "09")
def test_implausible_region_code(first_digit):
    assert code_of(validate_resident_id, make_id(first_digit + "2010519800101001")) == "ID_NUMBER_FORMAT"


def test_birth_date_gender_last6():
    assert birth_date("11010519491231002x") == date(1949, 12, 31)
    assert gender(GB_SAMPLE_ID) == "F"  # sequence 002: even
    assert gender(make_id("32010519800101001")) == "M"  # sequence 001: odd
    assert id_last6("11010519491231002x") == "31002X"
    assert code_of(id_last6, GB_SAMPLE_ID[:17] + "1") == "ID_NUMBER_CHECKSUM"
    assert code_of(birth_date, "not an id") == "ID_NUMBER_FORMAT"


# ---------------------------------------------------------- credit code


def test_sample_credit_code_is_valid():
    assert ref_credit_check(SAMPLE_CREDIT_CODE[:17]) == SAMPLE_CREDIT_CODE[-1]
    assert validate_credit_code(SAMPLE_CREDIT_CODE) == SAMPLE_CREDIT_CODE
    assert validate_credit_code(" 91350100m000100y43 ") == SAMPLE_CREDIT_CODE


@pytest.mark.parametrize(
    "first17",
    [
        "91320105MA1WXY20Q",
        "12100000400000001",
        "52320000MJ0000000",
        "Y1110000000000000",
    ],
)
def test_computed_credit_codes(first17):
    code = first17 + ref_credit_check(first17)
    assert credit_code_check_char(first17) == code[-1]
    assert validate_credit_code(code) == code


def test_credit_check_char_agrees_with_reference_everywhere():
    base = "91320105MA1WXY20Q"
    for pos in range(17):
        for ch in CREDIT_ALPHABET:
            first17 = base[:pos] + ch + base[pos + 1 :]
            assert credit_code_check_char(first17) == ref_credit_check(first17)


def test_credit_code_wrong_check_char():
    wrong = "A" if SAMPLE_CREDIT_CODE[-1] != "A" else "B"
    assert code_of(validate_credit_code, SAMPLE_CREDIT_CODE[:17] + wrong) == "CREDIT_CODE_CHECKSUM"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "91350100M000100Y4",  # 17 chars
        "91350100M000100Y431",  # 19 chars
        "91350100I000100Y43",  # I is not in the alphabet
        "91350100O000100Y43",  # nor O
        "91350100S000100Y43",  # nor S
        None,
    ],
)
def test_credit_code_format_errors(value):
    assert code_of(validate_credit_code, value) == "CREDIT_CODE_FORMAT"


# ---------------------------------------------------------------- mobile


@pytest.mark.parametrize(
    "value",
    [
        "13812345678",
        " 138 1234 5678 ",
        "138-1234-5678",
        "+8613812345678",
        "+86 138 1234 5678",
        "8613812345678",
        "008613812345678",
        "１３８１２３４５６７８",
    ],
)
def test_mobile_normalisation(value):
    assert validate_mobile(value) == "13812345678"


def test_mobile_keeps_86_that_is_not_a_prefix():
    # 11 digits that happen to start with 86 are not a country code.
    assert code_of(validate_mobile, "86138123456") == "MOBILE_FORMAT"
    assert validate_mobile("19912345678") == "19912345678"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1381234567",
        "138123456789",
        "12812345678",
        "23812345678",
        "+85213812345678",
        "1381234567a",
        "025-83456789",
        None,
    ],
)
def test_mobile_rejects(value):
    assert code_of(validate_mobile, value) == "MOBILE_FORMAT"


# ------------------------------------------------------------------ names


@pytest.mark.parametrize(
    "value, expected",
    [
        ("张三", "张三"),
        (" 欧阳娜娜 ", "欧阳娜娜"),
        ("张 三", "张三"),
        ("买买提·艾力", "买买提·艾力"),
        ("买买提•艾力", "买买提·艾力"),  # bullet typed instead of middle dot
        ("买买提・艾力", "买买提·艾力"),  # katakana middle dot from Japanese IMEs
        ("𠈌明", "𠈌明"),  # Extension B character
        ("John Smith", "John Smith"),
        ("  John   Smith ", "John Smith"),
        ("Jean-Luc O'Neil", "Jean-Luc O'Neil"),
        ("ＪＯＨＮ ＳＭＩＴＨ", "JOHN SMITH"),
        ("José Müller", "José Müller"),
    ],
)
def test_valid_names(value, expected):
    assert validate_name(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "张",
        "J",
        "张三3",
        "John3",
        "张三 Smith",
        "·张三",
        "张三·",
        "张··三",
        "Smith-",
        "<script>",
        "张" * 31,
        "A" * 31,
        None,
    ],
)
def test_invalid_names(value):
    assert code_of(validate_name, value) == "NAME_FORMAT"


def test_name_length_bounds():
    assert validate_name("张" * 30) == "张" * 30
    assert validate_name("Al") == "Al"


# ---------------------------------------------------------------- masking


def test_mask_id():
    assert mask_id("32010519800101123X") == "3201**********123X"
    assert mask_id("11010519491231002x") == "1101**********002X"
    assert len(mask_id(GB_SAMPLE_ID)) == 18


def test_mask_credit_code():
    assert mask_credit_code(SAMPLE_CREDIT_CODE) == "9135**********0Y43"


def test_mask_mobile():
    assert mask_mobile("13812345678") == "138****5678"
    assert mask_mobile("+86 138-1234-5678") == "138****5678"


def test_mask_name():
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜") == "欧**"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_name("买买提·艾力") == "买*****"


@pytest.mark.parametrize("masker", [mask_id, mask_credit_code, mask_mobile, mask_name])
def test_maskers_never_raise_or_leak_short_values(masker):
    assert masker(None) == ""
    assert masker("") == ""
    assert masker("1") == "*"
    assert "secret" not in masker("secret")
