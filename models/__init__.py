"""Tortoise models only: data, no business rules. Every module is imported here for Tortoise discovery."""

from models.audit import AuditLog
from models.booking import Booking, BookingChannel, BookingHolder, BookingStatus, QueueCounter, SlotCounter, WalkIn
from models.bot import BotDataFile, BotEntry, BotFeedback, BotMiss, BotSeed
from models.cases import (
    Case,
    CaseApplicant,
    CaseEvent,
    CaseNotification,
    CaseStageEntry,
    CaseSubscription,
    IngestClient,
)
from models.catalog import Bank, BusinessType, CalendarDay, CenterSetting, DayKind, Hall, HallScopePause
from models.figures import CaseFigureDay, FigureDay
from models.identity import Citizen
from models.notices import (
    DeliveryStatus,
    HallSubscription,
    Notice,
    NoticeAudience,
    NoticeDelivery,
    NoticeStatus,
    Organization,
    OrgInvitation,
    OrgMember,
    OrgType,
)
from models.queue import QueueTicket, TicketStatus
from models.staff import StaffRole, StaffUser
from models.wechat import WeChatFollower

__all__ = [
    "AuditLog",
    "Booking", "BookingChannel", "BookingHolder", "BookingStatus", "QueueCounter", "SlotCounter", "WalkIn",
    "BotDataFile", "BotEntry", "BotFeedback", "BotMiss", "BotSeed",
    "Case", "CaseApplicant", "CaseEvent", "CaseNotification", "CaseStageEntry", "CaseSubscription", "IngestClient",
    "BusinessType", "CalendarDay", "CenterSetting", "DayKind", "Hall",
    "Citizen",
    "DeliveryStatus", "HallSubscription", "Notice", "NoticeAudience", "NoticeDelivery", "NoticeStatus",
    "OrgInvitation", "OrgMember", "OrgType", "Organization",
    "QueueTicket", "TicketStatus",
    "StaffRole", "StaffUser",
    "WeChatFollower",
    "Bank", "HallScopePause", "CaseFigureDay", "FigureDay",
]
