"""Tortoise models only: data, no business rules. Every module is listed here for Tortoise discovery."""

from models.audit import AuditLog
from models.catalog import BusinessType, CalendarDay, CenterSetting, DayKind, Hall
from models.identity import Citizen
from models.staff import StaffRole, StaffUser

__all__ = [
    "AuditLog",
    "BusinessType",
    "CalendarDay",
    "CenterSetting",
    "DayKind",
    "Hall",
    "Citizen", "StaffRole", "StaffUser"]
