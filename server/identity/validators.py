"""Validation, normalisation and masking of identity data.

Resident ID numbers (居民身份证号, GB 11643-1999), unified social credit codes
(统一社会信用代码, GB 32100-2015), mainland mobile numbers and personal names.
Validators return the normalised value or raise ``InvalidIdentity`` whose
``message`` is ready to show to the applicant. Maskers never raise: they are
used when logging and rendering, where a bad value must not break anything.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta, timezone

__all__ = [
    "InvalidIdentity",
    "validate_resident_id",
    "validate_credit_code",
    "validate_mobile",
    "validate_name",
    "resident_id_check_char",
    "credit_code_check_char",
    "mask_id",
    "mask_mobile",
    "mask_name",
    "mask_credit_code",
    "id_last6",
    "birth_date",
    "gender",
]

# China has had no DST since 1991, so a fixed offset is exact and needs no tzdata.
_CHINA_TZ = timezone(timedelta(hours=8))


class InvalidIdentity(Exception):
    """A value failed validation; ``code`` is stable, ``message`` is user-facing Chinese."""

    http_status = 422  # callers answer it as Unprocessable with its code (read by the API document too)

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"InvalidIdentity({self.code!r}, {self.message!r})"


def _nfkc(value: object) -> str:
    # NFKC folds full-width digits/letters (e.g. from Chinese IMEs) to ASCII.
    if not isinstance(value, str):
        return ""
    return unicodedata.normalize("NFKC", value)


# ----------------------------------------------------------- resident ID

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
_ID_RE = re.compile(r"[0-9]{17}[0-9X]")


def resident_id_check_char(first17: str) -> str:
    """Check character (0-9 or X) for the first 17 digits of a resident ID."""
    if not re.fullmatch(r"[0-9]{17}", first17):
        raise ValueError("expected 17 ASCII digits")
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def _normalise_id(value: object) -> str:
    return re.sub(r"\s+", "", _nfkc(value)).upper()


def validate_resident_id(value: str, *, today: date | None = None) -> str:
    """Validate an 18-digit resident ID number; return it normalised (upper-case X)."""
    v = _normalise_id(value)
    if not _ID_RE.fullmatch(v):
        raise InvalidIdentity("ID_NUMBER_FORMAT", "身份证号格式不正确，应为18位，最后一位可以是数字或X")
    if v[0] not in "12345678":
        raise InvalidIdentity("ID_NUMBER_FORMAT", "身份证号地区码不正确，请核对后重新输入")
    # Date before checksum: a mistyped birth date is the more specific hint.
    try:
        born = date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        born = None
    today = today or datetime.now(_CHINA_TZ).date()
    if born is None or born < date(1900, 1, 1) or born > today:
        raise InvalidIdentity("ID_NUMBER_BIRTHDATE", "身份证号中的出生日期不正确，请核对后重新输入")
    if resident_id_check_char(v[:17]) != v[17]:
        raise InvalidIdentity("ID_NUMBER_CHECKSUM", "身份证号校验位不正确，请核对后重新输入")
    return v


def id_last6(value: str) -> str:
    """Last six characters of a valid resident ID (a common identity-check factor)."""
    return validate_resident_id(value)[-6:]


def birth_date(value: str) -> date:
    v = validate_resident_id(value)
    return date(int(v[6:10]), int(v[10:12]), int(v[12:14]))


def gender(value: str) -> str:
    """Return "M" or "F": the 17th digit (sequence code) is odd for men, even for women."""
    return "M" if int(validate_resident_id(value)[16]) % 2 else "F"


# ----------------------------------------------------- unified credit code

# GB 32100-2015 alphabet: digits and upper-case letters without I, O, S, V, Z.
_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_RE = re.compile(f"[{_CREDIT_CHARS}]{{18}}")


def credit_code_check_char(first17: str) -> str:
    """Check character for the first 17 characters of a unified social credit code."""
    if len(first17) != 17 or any(c not in _CREDIT_CHARS for c in first17):
        raise ValueError("expected 17 characters of the GB 32100 alphabet")
    total = sum(_CREDIT_CHARS.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return _CREDIT_CHARS[(31 - total % 31) % 31]


def validate_credit_code(value: str) -> str:
    """Validate an 18-character unified social credit code; return it upper-cased."""
    v = re.sub(r"[\s-]+", "", _nfkc(value)).upper()
    if not _CREDIT_RE.fullmatch(v):
        raise InvalidIdentity(
            "CREDIT_CODE_FORMAT",
            "统一社会信用代码格式不正确，应为18位数字或大写字母（不含I、O、S、V、Z）",
        )
    if credit_code_check_char(v[:17]) != v[17]:
        raise InvalidIdentity("CREDIT_CODE_CHECKSUM", "统一社会信用代码校验位不正确，请核对后重新输入")
    return v


# ------------------------------------------------------------------ mobile

_MOBILE_RE = re.compile(r"1[3-9][0-9]{9}")


def validate_mobile(value: str) -> str:
    """Validate a mainland mobile number; return the bare 11 digits."""
    v = re.sub(r"[\s\-()]+", "", _nfkc(value))
    # Strip a country code only when what is left is a full 11-digit number.
    for prefix in ("+86", "0086", "86"):
        if v.startswith(prefix) and len(v) == len(prefix) + 11:
            v = v[len(prefix) :]
            break
    if not _MOBILE_RE.fullmatch(v):
        raise InvalidIdentity("MOBILE_FORMAT", "手机号码格式不正确，请输入11位中国大陆手机号")
    return v


# -------------------------------------------------------------------- name

# Separator variants people type inside ethnic-minority or transliterated
# names (买买提•艾力); all are stored as U+00B7 "·".
_NAME_DOTS = "\u2022\u2027\u30fb\u22c5\u2219\u00b7\u0387\u16eb\u2e31\u318d\uff0e."
_DOT = "\u00b7"
_NAME_FORMAT_MSG = "姓名格式不正确，请填写2至30个字的中文姓名，外籍人士可填写英文姓名"


def _is_han(ch: str) -> bool:
    cp = ord(ch)
    return (
        0x4E00 <= cp <= 0x9FFF  # CJK Unified Ideographs
        or 0x3400 <= cp <= 0x4DBF  # Extension A
        or 0x20000 <= cp <= 0x323AF  # Extensions B–H: rare characters in real names
        or 0xF900 <= cp <= 0xFAFF  # compatibility ideographs
        or cp == 0x3007  # 〇
    )


def _is_latin_letter(ch: str) -> bool:
    return ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN")


def validate_name(value: str) -> str:
    """Validate a personal name: Chinese (with ·) or Latin letters for foreigners."""
    v = _nfkc(value).strip()
    if any(_is_han(ch) for ch in v):
        # Chinese-style name: drop stray spaces, unify the middle dot.
        v = re.sub(r"\s+", "", v)
        v = "".join(_DOT if ch in _NAME_DOTS else ch for ch in v)
        parts = v.split(_DOT)
        ok = all(parts) and all(_is_han(ch) for part in parts for ch in part)
    else:
        v = re.sub(r"\s+", " ", v)
        # Words of Latin letters; hyphen/apostrophe inside a word (Jean-Luc O'Neil).
        words = v.split(" ")
        ok = all(
            w
            and _is_latin_letter(w[0])
            and _is_latin_letter(w[-1])
            and all(_is_latin_letter(ch) or ch in "-'" for ch in w)
            for w in words
        )
    if not ok or not 2 <= len(v) <= 30:
        raise InvalidIdentity("NAME_FORMAT", _NAME_FORMAT_MSG)
    return v


# ----------------------------------------------------------------- masking


def _mask_middle(value: str, head: int, tail: int) -> str:
    # Too short to show both ends without revealing most of it: hide it all.
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[len(value) - tail :]


def mask_id(value: str | None) -> str:
    """3201**********123X — first 4 and last 4 kept."""
    return _mask_middle(_normalise_id(value), 4, 4)


def mask_credit_code(value: str | None) -> str:
    """9135**********0Y43 — first 4 and last 4 kept."""
    return _mask_middle(re.sub(r"[\s-]+", "", _nfkc(value)).upper(), 4, 4)


def mask_mobile(value: str | None) -> str:
    """138****5678."""
    try:
        v = validate_mobile(value)  # type: ignore[arg-type]
    except InvalidIdentity:
        v = re.sub(r"\s+", "", _nfkc(value))
    if len(v) == 11:
        return v[:3] + "****" + v[7:]
    return _mask_middle(v, 3, 4)


def mask_name(value: str | None) -> str:
    """张* / 欧阳** — first character kept, one * per remaining character."""
    v = _nfkc(value).strip()
    if len(v) <= 1:
        return "*" * len(v)
    return v[0] + "*" * (len(v) - 1)
