"""The bodies the JSON API answers with on success, one model per shape (issue 11: a truthful API document).

Each route names its model with `@responds(Model)` next to the handler (server/core/openapi.py): the document
shows the model's schema, and under DENGJI_ENV=test every answer is checked against it (`watch_conformance`, read
by tests/core/test_openapi.py and the schemathesis run), so a field added to a service's serialiser without its
model shows up as a gap instead of an undocumented change. The models were first written from the answers the
test suite records and are kept by hand since; `extra="forbid"`: an answer may carry nothing its model lacks.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class _Read(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Items(_Read, Generic[T]):
    """A list answer: `{"items": [...]}`."""

    items: list[T]


class Ref(_Read):
    code: str
    name: str


class BookingRead(_Read):
    id: int
    code: str
    qr: str
    hall: Ref
    business_type: Ref
    date: dt.date
    start: str
    end: str
    channel: str
    status: str
    status_text: str
    name: str
    id_number: str
    mobile: str
    agent_credit_code: str | None
    subscribe: bool
    review_reason: str | None
    cancel_reason: str | None
    queue_no: int | None
    checked_in_at: dt.datetime | None
    created_at: dt.datetime
    online_hint: str | None = None
    replaces: int | None = None
    provisional_note: str | None = None


class CaseReadDelivery(_Read):
    method: str | None
    label: str | None
    tracking_no: str | None


class CaseReadECertificate(_Read):
    number: str
    url: str


class CaseReadApplicantsItem(_Read):
    name: str


class CaseReadHistoryItem(_Read):
    stage: str
    label: str
    at: dt.datetime
    note: str | None
    missing_materials: list[str]


class CaseRead(_Read):
    receipt_no: str
    business_type: Ref
    hall: Ref
    stage: str
    stage_label: str
    stage_at: dt.datetime
    status_label: str
    overdue: bool
    accepted_at: dt.datetime
    promised_date: dt.date
    promised_date_provisional: bool
    finished: bool
    missing_materials: list[str]
    delivery: CaseReadDelivery
    e_certificate: CaseReadECertificate | None
    channel: str
    clock_stopped: bool
    applicants: list[CaseReadApplicantsItem]
    history: list[CaseReadHistoryItem]


class BusinessTypesReadItemsItemFee(_Read):
    free: bool
    residential: int | None
    non_residential: int | None
    certificate_fee: int | None
    note: str


class BusinessTypesReadItemsItem(_Read):
    code: str
    name: str
    short_name: str
    handling: str
    handling_note: str | None
    booking: str
    time_limit_days: int
    public_notice_days: int
    time_limit_text: str
    fee: BusinessTypesReadItemsItemFee
    fee_payer: str | None
    materials: list[str]
    notes: list[str]
    online_hint: str | None
    handling_text: str
    online_schedule: list[Any]


class BusinessTypesReadWalkInChannelsItem(_Read):
    code: str
    name: str
    description: str
    business_type_codes: list[str]


class BusinessTypesRead(_Read):
    items: list[BusinessTypesReadItemsItem]
    walk_in_channels: list[BusinessTypesReadWalkInChannelsItem]


class DevCitizenPostReadCitizen(_Read):
    id: int
    bound: bool
    verification: str
    name: str
    id_number: str
    mobile: str | None
    suspended_until: dt.datetime | None


class DevCitizenPostRead(_Read):
    token: str
    citizen: DevCitizenPostReadCitizen


class HallsReadItemsItemSessions(_Read):
    weekday: list[list[str]]
    saturday: list[list[str]]


class HallsReadItemsItem(_Read):
    id: int
    code: str
    name: str
    address: str
    quota_per_slot: int
    online_quota: int
    hotline_quota: int
    saturday_duty: bool
    saturday_booking_only: bool
    sessions: HallsReadItemsItemSessions
    extended: list[Any]
    paused_business: dict[str, Any]
    review_mode: bool


class HallsRead(_Read):
    items: list[HallsReadItemsItem]


class SlotsHall(_Read):
    id: int
    code: str
    name: str


class SlotPlaces(_Read):
    quota: int
    remaining: int


class SlotRead(_Read):
    start: str
    end: str
    online: SlotPlaces
    remaining: int
    bookable: bool
    reason: str | None
    hotline: SlotPlaces | None = None


class SlotsRead(_Read):
    hall: SlotsHall
    date: dt.date
    channel: str
    open: bool
    released: bool
    release_time: str
    provisional: bool
    provisional_note: str | None
    slots: list[SlotRead]


class FieldError(_Read):
    field: str
    message: str


class IngestError(_Read):
    code: str
    message: str
    details: list[FieldError] | None = None


class IngestResult(_Read):
    event_id: str
    status: str
    applied: bool | None = None
    http_status: int | None = None
    error: IngestError | None = None


class IngestRead(_Read):
    accepted: int
    duplicate: int
    rejected: int
    results: list[IngestResult]


class MpBindingVerifyPostRead(_Read):
    verify_id: str
    expires_in: int


class BotAnswerRead(_Read):
    kind: str
    text: str
    entry_id: str | None
    score: float
    candidates: list[list[str | float]]
    intent: str | None
    receipt_no: str | None


class OkRead(_Read):
    ok: bool


class CaseSubscriptionRead(_Read):
    receipt_no: str
    subscribed: bool


class Attachment(_Read):
    name: str
    url: str


class MpInboxReadItemsItem(_Read):
    id: int
    notice_id: int
    title: str
    body: str
    category: str
    attachments: list[Attachment]
    published_at: dt.datetime
    read: bool


class MpInboxRead(_Read):
    total: int
    unread: int
    items: list[MpInboxReadItemsItem]


class MpInboxDeliveryIdReadPostRead(_Read):
    id: int
    read: bool
    read_at: dt.datetime


class CitizenRead(_Read):
    id: int
    bound: bool
    verification: Any
    name: str | None
    id_number: str | None
    mobile: str | None
    suspended_until: dt.datetime | None


class LoginRead(_Read):
    token: str
    citizen: CitizenRead


class MeRead(_Read):
    id: int
    bound: bool
    verification: str | None
    name: str | None
    id_number: str | None
    mobile: str | None
    suspended_until: dt.datetime | None


class HallSubscriptionsRead(_Read):
    hall_codes: list[str]


class MpOrgOrgIdInvitationsPostRead(_Read):
    org_id: int
    code: str
    scene: str
    is_admin: bool
    expires_at: dt.datetime


class OrgRead(_Read):
    id: int
    name: str
    type: str
    type_name: str
    district: str
    business_lines: list[str]
    tags: list[str]
    credit_code: str | None
    suspended: bool


class MpOrgJoinPostRead(_Read):
    org: OrgRead
    is_admin: bool


class MpOrgMembershipsReadItemsItem(_Read):
    org: OrgRead
    is_admin: bool
    joined_at: dt.datetime


class MpOrgMembershipsRead(_Read):
    items: list[MpOrgMembershipsReadItemsItem]


class StaffRead(_Read):
    id: int
    username: str
    display_name: str
    role: str
    hall_code: str | None
    active: bool


class StaffBanksReadItemsItemBranchesItem(_Read):
    name: str
    address: str


class StaffBanksReadItemsItem(_Read):
    id: int
    name: str
    branches: list[StaffBanksReadItemsItemBranchesItem]
    online_mortgage: bool
    online_mortgage_since: dt.date | None


class StaffBanksRead(_Read):
    items: list[StaffBanksReadItemsItem]


class StaffBindingCodesPostRead(_Read):
    binding_code: str
    expires_in: int
    hall: str
    name: str
    id_number: str


class KbEntryRead(_Read):
    id: str
    category: str
    question: str
    phrasings: list[str]
    keywords: list[str]
    answer: str


class StaffBotEntriesRead(_Read):
    items: list[KbEntryRead]


class StaffBotFeedbackReadItemsItem(_Read):
    entry_id: str
    question: str
    helpful: int
    unhelpful: int
    total: int
    helpful_ratio: float


class StaffBotFeedbackRead(_Read):
    items: list[StaffBotFeedbackReadItemsItem]


class StaffBotMissesReadItemsItem(_Read):
    question: str
    count: int
    last_kind: str
    last_score: float
    first_seen: dt.datetime
    last_seen: dt.datetime


class StaffBotMissesRead(_Read):
    items: list[StaffBotMissesReadItemsItem]


class StaffBotReloadPostRead(_Read):
    version: int
    entries: int


class StaffCalendarPostRead(_Read):
    id: int
    date: dt.date
    kind: str
    name: str
    halls: list[str]
    sessions: list[list[str]] | None
    cancelled_bookings: int | None = None


class StaffCalendarReadItemsItem(_Read):
    id: int
    date: dt.date
    kind: str
    name: str
    halls: list[str]
    sessions: Any


class StaffCalendarRead(_Read):
    items: list[StaffCalendarReadItemsItem]


class StaffCasesOverdueRead(_Read):
    total: int
    groups: list[Any]
    items: list[Any]


class StaffCheckinPostReadBooking(BookingRead):
    """The booking a check-in answers with: its queue number ("001") and check-in time are always there."""

    queue_no: str
    checked_in_at: dt.datetime


class StaffCheckinPostRead(_Read):
    already: bool
    queue_no: str
    booking: StaffCheckinPostReadBooking


class StaffClosuresPostRead(_Read):
    calendar_ids: list[int]
    cancelled: int
    booking_ids: list[int]


class StaffClosuresPreviewPostReadSlotsItem(_Read):
    hall: str
    hall_name: str
    date: dt.date
    start: str
    bookings: int


class StaffClosuresPreviewPostRead(_Read):
    count: int
    reachable: int
    slots: list[StaffClosuresPreviewPostReadSlotsItem]
    booking_ids: list[int]


class StaffFiguresReadRowsItem(_Read):
    period: str
    hall: str
    bookings: int
    check_ins: int
    no_shows: int
    walk_ins: int
    visitors: int
    business_volume: int
    online_rate: float | None
    avg_wait_seconds: int | None


class StaffFiguresReadTotal(StaffFiguresReadRowsItem):
    """The whole period's row: the same fields."""


class StaffFiguresReadOnlineRatesByMonthItemOverall(_Read):
    online: int
    total: int
    unknown_channel: int
    rate: float
    meets_target: bool


class StaffFiguresReadOnlineRatesByMonthItemByBusinessTypeItem(_Read):
    business_type: str
    name: str
    online: int
    total: int
    unknown_channel: int
    rate: float
    meets_target: bool


class StaffFiguresReadOnlineRatesByMonthItem(_Read):
    month: str
    overall: StaffFiguresReadOnlineRatesByMonthItemOverall
    by_business_type: list[StaffFiguresReadOnlineRatesByMonthItemByBusinessTypeItem]


class StaffFiguresReadOnlineRates(_Read):
    target: float
    by_month: list[StaffFiguresReadOnlineRatesByMonthItem]


class StaffFiguresRead(_Read):
    from_: dt.date = Field(alias="from")
    to: dt.date
    by: str
    hall: str | None
    fields: list[str]
    rows: list[StaffFiguresReadRowsItem]
    total: StaffFiguresReadTotal
    online_rates: StaffFiguresReadOnlineRates


class StaffHallsCodePutReadSessions(_Read):
    weekday: list[list[str]]
    saturday: list[Any]


class StaffHallsCodePutRead(HallsReadItemsItem):
    sessions: StaffHallsCodePutReadSessions
    cancel_release_delay_minutes: int


class StaffHallsCodeFiguresRead(_Read):
    hall: str
    date: dt.date
    booked: int
    center_cancelled: int
    pending: int
    confirmed: int
    checked_in: int
    no_show: int
    cancelled: int
    declined: int
    expired: int
    walk_ins: int


class StaffHallsCodeHoursPutReadExtendedItem(_Read):
    kind: str
    start: str
    end: str
    from_: dt.date | None = Field(default=None, alias="from")
    until: dt.date | None


class StaffHallsCodeHoursPutRead(StaffHallsCodePutRead):
    sessions: HallsReadItemsItemSessions
    extended: list[StaffHallsCodeHoursPutReadExtendedItem]
    cancelled_bookings: int


class StaffHallsCodeScopeReadItemsItem(_Read):
    business_type: str
    name: str
    paused: bool
    reason: str | None


class StaffHallsCodeScopeRead(_Read):
    hall: str
    hall_name: str
    items: list[StaffHallsCodeScopeReadItemsItem]


class StaffHallsCodeSlotsDayStartPutReadOnline(_Read):
    quota: int
    booked: int
    remaining: int


class StaffHallsCodeSlotsDayStartPutRead(_Read):
    hall: str
    date: dt.date
    start: str
    online: StaffHallsCodeSlotsDayStartPutReadOnline
    hotline: StaffHallsCodeSlotsDayStartPutReadOnline


class StaffLoginRead(_Read):
    token: str
    staff: StaffRead


class NoticeTarget(_Read):
    all: bool | None = None
    types: list[str] | None = None
    districts: list[str] | None = None
    business_lines: list[str] | None = None
    tags: list[str] | None = None
    org_ids: list[int] | None = None
    online_mortgage_banks: bool | None = None
    halls: list[str] | None = None


class NoticeRead(_Read):
    id: int
    title: str
    body: str
    category: str
    category_name: str
    audience: str
    attachments: list[Attachment]
    target: NoticeTarget
    status: str
    scheduled_at: dt.datetime | None
    created_by: int
    reviewed_by: int | None
    review_comment: str | None
    recipients: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class StaffNoticesNoticeIdReportReadNotice(_Read):
    id: int
    title: str
    status: str


class StaffNoticesNoticeIdReportReadTotals(_Read):
    recipients: int
    pending: int
    sending: int
    sent: int
    failed: int
    read: int


class StaffNoticesNoticeIdReportReadOrganizationsItem(_Read):
    org_id: int
    name: str
    type: str
    district: str
    recipients: int
    sent: int
    failed: int
    read: int
    pending: int
    failure_reasons: dict[str, Any]


class NoticeReportRead(_Read):
    notice: StaffNoticesNoticeIdReportReadNotice
    totals: StaffNoticesNoticeIdReportReadTotals
    failures: list[Any]
    organizations: list[StaffNoticesNoticeIdReportReadOrganizationsItem]


class StaffNoticesPreviewPostRead(_Read):
    organizations: int
    members: int
    halls: int | None = None


class StaffOrgsPostRead(OrgRead):
    members: int


class StaffOrgsRead(_Read):
    items: list[StaffOrgsPostRead]


class StaffOrgsOrgIdMembersReadItemsItem(_Read):
    id: int
    openid: str
    channel: str
    is_admin: bool
    active: bool
    joined_at: dt.datetime


class StaffOrgsOrgIdMembersRead(_Read):
    items: list[StaffOrgsOrgIdMembersReadItemsItem]


class StaffWalkinsPostRead(_Read):
    id: int
    hall: str
    date: dt.date
    business_type: str
    channel: str
    queue_no: str


class AuditRead(_Read):
    at: dt.datetime
    actor_kind: str
    actor_id: str
    action: str
    target_type: str
    target_id: str
    fields: list[Any]
    request_id: str | None
