"""Console forms: the API's pydantic schemas and service errors, with each message placed by its field."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError
from sanic import Request

from server.core.errors import AppError, validation_details

M = TypeVar("M", bound=BaseModel)


class FormError(Exception):
    """Messages for a form, keyed by field name ("" for the form as a whole)."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__(next(iter(errors.values()), ""))


def fields(request: Request, *, lists: tuple[str, ...] = ()) -> dict:
    """The submitted form as a dict: empty fields dropped, `lists` kept as lists of non-empty values."""
    out: dict = {}
    for name, values in (request.form or {}).items():
        if name == "csrf":
            continue
        if name in lists:
            out[name] = [v.strip() for v in values if v.strip()]
        elif values and values[0].strip():
            out[name] = values[0].strip()
    return out


def parse(schema: type[M], data: dict) -> M:
    """Validate like the API does; raise FormError with the same Chinese messages, by field."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for d in validation_details(exc):
            errors.setdefault(d["field"].split(".")[0], d["message"])
        raise FormError(errors) from exc


# Identity validators' codes name their field (server/identity/validators.py).
_PREFIXES = (("ID_NUMBER", "id_number"), ("MOBILE", "mobile"), ("NAME", "name"), ("CREDIT_CODE", "agent_credit_code"))


def from_app_error(exc: AppError, field_of: dict[str, str] | None = None) -> FormError:
    """Place a service error next to the field it is about (by its stable code), else on the form."""
    field = (field_of or {}).get(exc.code) or next((f for p, f in _PREFIXES if exc.code.startswith(p)), "")
    if exc.details and isinstance(exc.details, list) and isinstance(exc.details[0], dict):
        field = exc.details[0].get("field", field) or field
    return FormError({field: exc.message})
