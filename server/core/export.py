"""Cells for spreadsheets we hand to staff (CSV now, xlsx alike): text never runs as a formula."""

from __future__ import annotations

# Excel, LibreOffice and WPS read a cell starting with one of these as a formula (=HYPERLINK(…), =cmd|…);
# tab and carriage return are stripped by some of them first, so they count too.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def safe_cell(value: object) -> object:
    """Return text that starts like a formula with a leading apostrophe (shown as text); other values as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_row(values: list) -> list:
    return [safe_cell(v) for v in values]
