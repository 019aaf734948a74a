"""Tortoise models only: data, no business rules. Every module is listed here for Tortoise discovery."""

from models.audit import AuditLog
from models.identity import Citizen
from models.staff import StaffRole, StaffUser

__all__ = ["AuditLog", "Citizen", "StaffRole", "StaffUser"]
