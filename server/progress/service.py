"""Registration cases (办件): ingest from the business system, stage rules, lookups and staff views.

Events may arrive late, twice or out of order. Every accepted event is stored once (unique event id); the
case's current stage moves only for an event newer than the one that set it, while older ones are
inserted into the history where they belong. Applicants are kept as keyed hashes of their ID numbers.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import time as _time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from models import (
    Case,
    CaseApplicant,
    CaseEvent,
    CaseNotification,
    CaseStageEntry,
    CaseSubscription,
    Citizen,
    IngestClient,
)
from server.catalog.service import Catalog
from server.core.crypto import PiiCipher
from server.core.errors import (
    AppError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
)
from server.core.errors import validation_details as _validation_details
from server.identity import validators as v
from server.identity.service import id_hash
from server.progress import schemas as s
from server.wechat.fields import fit

# ------------------------------------------------------------------ rules (config/data)


@dataclass(frozen=True)
class StageInfo:
    code: str
    label: str
    finished: bool
    next: frozenset[str]
    # The name in a subscribe message's phrase field: WeChat takes at most 5 Chinese characters there.
    phrase: str | None = None
    clock_stops: bool = False  # the promised date's clock stops in this stage (待补正)


@dataclass(frozen=True)
class Rules:
    stages: dict[str, StageInfo]
    overdue_label: str
    delivery_methods: dict[str, str]
    window_seconds: int
    failures_per_ip: int
    failures_per_user: int
    templates: dict
    failures_per_receipt: int = 10
    receipt_window_seconds: int = 900

    def stage(self, code: str) -> StageInfo:
        info = self.stages.get(code)
        if info is None:
            raise Unprocessable(f"未知的办件环节：{code}", code="UNKNOWN_STAGE")
        return info

    def label(self, code: str) -> str:
        info = self.stages.get(code)
        return info.label if info else code

    @property
    def unfinished(self) -> list[str]:
        return [c for c, i in self.stages.items() if not i.finished]

    @property
    def overdue_candidates(self) -> list[str]:
        """Unfinished stages whose clock runs: a case waiting for the citizen's correction is never overdue."""
        return [c for c, i in self.stages.items() if not i.finished and not i.clock_stops]


OA_TEMPLATE = "oa_case_stage_changed"  # in wechat_templates.yaml, beside the booking messages


@lru_cache(maxsize=4)
def load_rules(seed_dir: str) -> Rules:
    """Read stage names, transitions, delivery methods, lookup limits and push templates from config data."""
    base = Path(seed_dir)
    raw = yaml.safe_load((base / "case_stages.yaml").read_text(encoding="utf-8"))
    templates = yaml.safe_load((base / "progress_templates.yaml").read_text(encoding="utf-8")) or {}
    # The public account's template message for a person who follows it but has no mini-program subscription.
    oa = (yaml.safe_load((base / "wechat_templates.yaml").read_text(encoding="utf-8")) or {}).get(OA_TEMPLATE)
    if oa:
        templates = {**templates, OA_TEMPLATE: oa}
    stages = {code: StageInfo(code, d["label"], bool(d.get("finished")), frozenset(d.get("next") or ()),
                              d.get("phrase") or d["label"], bool(d.get("clock_stops")))
              for code, d in raw["stages"].items()}
    unknown = {n for i in stages.values() for n in i.next} - stages.keys()
    if unknown:
        raise ValueError(f"case_stages.yaml: unknown stages in next: {sorted(unknown)}")
    too_long = sorted(i.code for i in stages.values() if len(i.phrase) > 5)
    if too_long:
        raise ValueError(f"case_stages.yaml: stages {too_long} need a phrase of at most 5 characters")
    limits = raw.get("lookup_limits") or {}
    return Rules(stages=stages, overdue_label=raw.get("overdue_label", "已超期"),
                 delivery_methods=dict(raw.get("delivery_methods") or {}),
                 window_seconds=int(limits.get("window_seconds", 3600)),
                 failures_per_ip=int(limits.get("failures_per_ip", 10)),
                 failures_per_user=int(limits.get("failures_per_user", 10)), templates=templates or {},
                 failures_per_receipt=int(limits.get("failures_per_receipt", 10)),
                 receipt_window_seconds=int(limits.get("receipt_window_seconds", 900)))


def rules_for(settings) -> Rules:
    return load_rules(str(settings.seed_dir))


# ------------------------------------------------------------------ ingest clients

_SIGNATURE_WINDOW = timedelta(minutes=5)
_CLIENT_CACHE_SECONDS = 30.0
_client_cache: dict[str, tuple[float, IngestClient, bytes]] = {}


async def create_client(*, cipher: PiiCipher, name: str) -> tuple[IngestClient, str]:
    """Register a business system; return it with its secret (shown once, stored encrypted)."""
    secret = secrets.token_urlsafe(32)
    key_id = "dk_" + secrets.token_hex(8)
    try:
        client = await IngestClient.create(name=name, key_id=key_id, secret_enc=cipher.encrypt(secret))
    except IntegrityError as exc:
        raise Conflict("同名的接入系统已存在", code="INGEST_CLIENT_EXISTS") from exc
    return client, secret


def sign(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over timestamp + "\\n" + raw body, hex encoded."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, timestamp.encode() + b"\n" + body, hashlib.sha256).hexdigest()


async def _client_secret(cipher: PiiCipher, key_id: str) -> tuple[IngestClient, bytes] | None:
    hit = _client_cache.get(key_id)
    if hit and _time.monotonic() - hit[0] < _CLIENT_CACHE_SECONDS:
        return hit[1], hit[2]
    client = await IngestClient.get_or_none(key_id=key_id)
    if client is None:
        return None
    secret = cipher.decrypt(client.secret_enc).encode()
    _client_cache[key_id] = (_time.monotonic(), client, secret)
    return client, secret


async def authenticate_client(*, cipher: PiiCipher, key_id: str | None, timestamp: str | None,
                              signature: str | None, body: bytes, now: datetime | None = None) -> IngestClient:
    """Check the API key, timestamp freshness and HMAC signature of an ingest request."""
    if not key_id or not timestamp or not signature:
        raise Unauthorized("缺少接入认证信息（X-Dengji-Key、X-Dengji-Timestamp、X-Dengji-Signature）",
                           code="INGEST_AUTH_MISSING")
    found = await _client_secret(cipher, key_id)
    if found is None:
        raise Unauthorized("接入密钥不存在", code="INGEST_UNKNOWN_KEY")
    client, secret = found
    try:
        sent_at = datetime.fromtimestamp(int(timestamp), UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise Unauthorized("时间戳格式有误，应为 Unix 秒", code="INGEST_BAD_TIMESTAMP") from exc
    if abs((now or datetime.now(UTC)) - sent_at) > _SIGNATURE_WINDOW:
        raise Unauthorized("请求时间戳已过期（超过 5 分钟），请校准时钟后重试", code="INGEST_STALE_TIMESTAMP")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature.strip().lower()):
        raise Unauthorized("签名校验失败", code="INGEST_BAD_SIGNATURE")
    if not client.active:
        raise Forbidden("该接入系统已停用", code="INGEST_CLIENT_DISABLED")
    return client


# ------------------------------------------------------------------ ingest events


@dataclass(frozen=True)
class Push:
    """A stage change to push to one subscribed citizen after the event is committed."""

    event_id: str
    stage_entry_id: int
    citizen_id: int


def _aware(value: datetime, catalog: Catalog) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=catalog.tz)


def _key(at: datetime, seq: int) -> tuple[datetime, int]:
    return (at.astimezone(UTC), seq)


def promised_date(catalog: Catalog, business_type: str, accepted_at: datetime) -> date:
    """Count the promised completion date in working days (public notice days included)."""
    bt = catalog.business_type(business_type)
    start = accepted_at.astimezone(catalog.tz).date()
    return catalog.add_working_days(start, (bt.public_notice_days or 0) + (bt.time_limit_days or 0))


def _applicant_hashes(cipher: PiiCipher, id_number: str) -> tuple[str, str]:
    try:
        number = v.validate_resident_id(id_number)
    except v.InvalidIdentity:
        try:
            number = v.validate_credit_code(id_number)
        except v.InvalidIdentity as exc:
            raise Unprocessable("申请人证件号码无效", code="INVALID_ID_NUMBER") from exc
    return id_hash(cipher, number), cipher.digest(number[-6:], purpose="id6")


class _Duplicate(Exception):
    pass


_INGEST_PARALLEL = 8


async def ingest_events(*, cipher: PiiCipher, catalog: Catalog, rules: Rules, client: str, events: list,
                        check_transitions: bool = True) -> tuple[list[dict], list[Push]]:
    """Apply a batch of events; a bad event is reported and never fails the others.

    Events of one case are applied in batch order; different cases proceed in parallel.
    """
    results: list[dict | None] = [None] * len(events)
    pushes: list[list[Push]] = [[] for _ in events]
    groups: dict[str, list[tuple[int, object]]] = {}
    for index, raw in enumerate(events):
        event_id = raw.get("event_id") if isinstance(raw, dict) else None
        try:
            event = s.EVENT.validate_python(raw)
        except ValidationError as exc:
            details = _validation_details(exc)
            first = details[0] if details else {"field": "", "message": "取值无效"}
            results[index] = {"event_id": event_id if isinstance(event_id, str) else None, "status": "rejected",
                              "http_status": 422, "error": {"code": "VALIDATION_ERROR",
                                                            "message": f"{first['field']}：{first['message']}",
                                                            "details": details}}
            continue
        groups.setdefault(event.data.receipt_no, []).append((index, event))
    if groups:
        items = sorted((item for group in groups.values() for item in group), key=lambda item: item[0])
        try:
            await _ingest_batch(cipher=cipher, catalog=catalog, rules=rules, client=client, items=items,
                                check_transitions=check_transitions, results=results, pushes=pushes)
            return results, [p for group in pushes for p in group]  # type: ignore[return-value]
        except (IntegrityError, OperationalError):
            # A concurrent writer got there first (same event id or receipt number) or the database refused
            # the batch: nothing of it was written, so redo it event by event, where each race is told apart.
            for index, _ in items:
                results[index], pushes[index] = None, []
    limit = asyncio.Semaphore(_INGEST_PARALLEL)

    async def run(group: list[tuple[int, object]]) -> None:
        async with limit:
            for index, event in group:
                try:
                    applied, new_pushes = await _ingest_one(cipher=cipher, catalog=catalog, rules=rules,
                                                            client=client, event=event,
                                                            check_transitions=check_transitions)
                except _Duplicate:
                    results[index] = {"event_id": event.event_id, "status": "duplicate"}
                except AppError as exc:
                    results[index] = {"event_id": event.event_id, "status": "rejected", "http_status": exc.status,
                                      "error": {"code": exc.code, "message": exc.message}}
                else:
                    pushes[index] = new_pushes
                    results[index] = {"event_id": event.event_id, "status": "accepted", "applied": applied}

    await asyncio.gather(*(run(g) for g in groups.values()))
    return results, [p for group in pushes for p in group]  # type: ignore[return-value]


def _payload(cipher: PiiCipher, event) -> dict:
    payload = event.data.model_dump(mode="json")
    if isinstance(event, s.CaseCreated):
        # Never keep ID numbers or names in clear, not even inside the stored event.
        payload["applicants"] = [{"id_hash": _applicant_hashes(cipher, a.id_number)[0],
                                  "name_enc": cipher.encrypt(a.name) if a.name else None}
                                 for a in event.data.applicants]
    return payload


_CASE_UPDATE_FIELDS = ("stage", "stage_at", "stage_seq", "missing_materials", "accepted_at", "promised_date",
                       "finished_at", "delivery_method", "tracking_no", "delivery_at", "correction_since",
                       "e_cert_no", "e_cert_url", "updated_at")


async def _update_cases(conn, cases: list[Case]) -> None:
    """Write the changed state of many cases with one pipelined statement instead of one UPDATE each."""
    if not cases:
        return
    postgres = conn.capabilities.dialect == "postgres"
    mark = (lambda n: f"${n}") if postgres else (lambda n: "?")
    sets = ", ".join(f'"{name}" = {mark(n)}' for n, name in enumerate(_CASE_UPDATE_FIELDS, 1))
    sql = f'UPDATE "cases" SET {sets} WHERE "id" = {mark(len(_CASE_UPDATE_FIELDS) + 1)}'
    fields = Case._meta.fields_map
    rows = [[fields[name].to_db_value(getattr(case, name), case) for name in _CASE_UPDATE_FIELDS] + [case.id]
            for case in cases]
    await conn.execute_many(sql, rows)


async def _ingest_batch(*, cipher, catalog, rules, client, items: list, check_transitions: bool,
                        results: list, pushes: list) -> None:
    """Apply a whole batch in one transaction: one read of its cases and events, bulk writes after.

    Raises IntegrityError when a concurrent request wrote one of its events or cases first (then nothing of
    the batch is kept and the caller replays it event by event).
    """
    async with in_transaction() as conn:
        receipts = sorted({event.data.receipt_no for _, event in items})
        # Lock in id order so concurrent batches touching the same cases wait instead of deadlocking.
        cases = {c.receipt_no: c for c in await Case.filter(receipt_no__in=receipts).order_by("id")
                 .select_for_update().using_db(conn)}
        # Read after the locks: a concurrent batch for the same cases has committed its events by now.
        existing = set(await CaseEvent.filter(event_id__in=[e.event_id for _, e in items]).using_db(conn)
                       .values_list("event_id", flat=True))
        records: list[CaseEvent] = []
        entries: list[tuple[int, CaseStageEntry, Case]] = []
        dirty: dict[int, Case] = {}
        for index, event in items:
            if event.event_id in existing:
                results[index] = {"event_id": event.event_id, "status": "duplicate"}
                continue
            occurred_at = _aware(event.occurred_at, catalog)
            try:
                payload = _payload(cipher, event)
                receipt_no = event.data.receipt_no
                case = cases.get(receipt_no)
                if isinstance(event, s.CaseCreated):
                    if case is not None:
                        raise Conflict("该受理编号的办件已存在", code="CASE_EXISTS")
                    cases[receipt_no] = await _create_case(conn, cipher, catalog, rules, event, occurred_at)
                    applied = True
                elif case is None:
                    raise NotFound("办件不存在", code="CASE_NOT_FOUND")
                elif isinstance(event, s.DeliveryUpdated):
                    applied = _plan_delivery(rules, case, event, occurred_at)
                else:
                    applied, entry = _plan_stage(catalog, rules, case, event, occurred_at, check_transitions)
                    entries.append((index, entry, case))
                if applied and case is not None:
                    dirty[case.id] = case
            except AppError as exc:
                results[index] = {"event_id": event.event_id, "status": "rejected", "http_status": exc.status,
                                  "error": {"code": exc.code, "message": exc.message}}
                continue
            existing.add(event.event_id)  # a repeat later in the same batch is a duplicate
            records.append(CaseEvent(event_id=event.event_id, type=event.type, receipt_no=event.data.receipt_no,
                                     occurred_at=occurred_at, seq=event.seq, client=client, payload=payload,
                                     applied=applied))
            results[index] = {"event_id": event.event_id, "status": "accepted", "applied": applied}
        await CaseEvent.bulk_create(records, using_db=conn)
        changed_ids = list({case.id for _, entry, case in entries if entry.applied})
        subscribers: dict[int, list[int]] = {}
        if changed_ids:
            for row in await CaseSubscription.filter(case_id__in=changed_ids, active=True).using_db(conn).values(
                    "case_id", "citizen_id"):
                subscribers.setdefault(row["case_id"], []).append(row["citizen_id"])
        plain: list[CaseStageEntry] = []
        for index, entry, case in entries:
            citizens = subscribers.get(case.id) if entry.applied else None
            if not citizens:
                plain.append(entry)
                continue
            # Pushes need the entry's id, so these few are inserted one by one.
            await entry.save(using_db=conn)
            await CaseNotification.bulk_create(
                [CaseNotification(stage_entry_id=entry.id, citizen_id=c) for c in citizens], using_db=conn)
            pushes[index] = [Push(entry.event_id, entry.id, c) for c in citizens]
        await CaseStageEntry.bulk_create(plain, using_db=conn)
        await _update_cases(conn, list(dirty.values()))


async def _ingest_one(*, cipher, catalog, rules, client, event, check_transitions) -> tuple[bool, list[Push]]:
    occurred_at = _aware(event.occurred_at, catalog)
    payload = _payload(cipher, event)
    try:
        async with in_transaction() as conn:
            record = await CaseEvent.create(using_db=conn, event_id=event.event_id, type=event.type,
                                            receipt_no=event.data.receipt_no, occurred_at=occurred_at,
                                            seq=event.seq, client=client, payload=payload)
            if isinstance(event, s.CaseCreated):
                return await _apply_created(conn, cipher, catalog, rules, event, occurred_at), []
            case = await Case.filter(receipt_no=event.data.receipt_no).select_for_update().using_db(conn).first()
            if case is None:
                raise NotFound("办件不存在", code="CASE_NOT_FOUND")
            pushes: list[Push] = []
            if isinstance(event, s.DeliveryUpdated):
                applied = await _apply_delivery(conn, rules, case, event, occurred_at)
            else:
                applied, pushes = await _apply_stage(conn, catalog, rules, case, event, occurred_at,
                                                     check_transitions)
            if not applied:
                record.applied = False
                await record.save(using_db=conn, update_fields=["applied"])
            return applied, pushes
    except IntegrityError as exc:
        if await CaseEvent.exists(event_id=event.event_id):
            raise _Duplicate() from exc
        raise Conflict("办件已存在或数据冲突", code="CASE_CONFLICT") from exc


async def _apply_created(conn, cipher, catalog, rules, event, occurred_at) -> bool:
    _check_created(catalog, rules, event)
    if await Case.filter(receipt_no=event.data.receipt_no).using_db(conn).exists():
        raise Conflict("该受理编号的办件已存在", code="CASE_EXISTS")
    await _create_case(conn, cipher, catalog, rules, event, occurred_at)
    return True


def _check_created(catalog, rules, event) -> None:
    data = event.data
    catalog.business_type(data.business_type)
    catalog.hall(data.hall)
    rules.stage(data.stage or ("accepted" if data.accepted_at else "submitted"))
    if data.delivery_method and data.delivery_method not in rules.delivery_methods:
        raise Unprocessable("不支持的交付方式", code="UNKNOWN_DELIVERY_METHOD")


async def _create_case(conn, cipher, catalog, rules, event, occurred_at) -> Case:
    _check_created(catalog, rules, event)
    data = event.data
    accepted_at = _aware(data.accepted_at, catalog) if data.accepted_at else None
    stage = data.stage or ("accepted" if accepted_at else "submitted")
    stage_at = accepted_at if (accepted_at and stage == "accepted") else occurred_at
    case = await Case.create(
        using_db=conn, receipt_no=data.receipt_no, business_type=data.business_type, hall=data.hall, stage=stage,
        stage_at=stage_at, stage_seq=event.seq, accepted_at=accepted_at,
        promised_date=promised_date(catalog, data.business_type, accepted_at) if accepted_at else None,
        finished_at=stage_at if rules.stage(stage).finished else None,
        delivery_method=data.delivery_method, tracking_no=data.tracking_no,
        delivery_at=occurred_at if data.delivery_method else None, channel=data.channel,
        correction_since=stage_at if rules.stage(stage).clock_stops else None)
    seen: set[str] = set()
    applicants = []
    for a in data.applicants:
        digest, last6 = _applicant_hashes(cipher, a.id_number)
        if digest in seen:
            continue
        seen.add(digest)
        name = None
        if a.name:
            try:
                name = v.validate_name(a.name)
            except v.InvalidIdentity:
                name = a.name.strip()  # company names are not personal names; keep them as sent
        applicants.append(CaseApplicant(case_id=case.id, id_hash=digest, id_last6_hash=last6,
                                        name_enc=cipher.encrypt(name) if name else None))
    await CaseApplicant.bulk_create(applicants, using_db=conn)
    await CaseStageEntry.create(using_db=conn, case_id=case.id, event_id=event.event_id, stage=stage,
                                occurred_at=stage_at, seq=event.seq)
    return case


def _plan_delivery(rules, case, event, occurred_at) -> bool:
    """Check a delivery update and apply it to the case in memory; False when a newer one is already set."""
    if event.data.method not in rules.delivery_methods:
        raise Unprocessable("不支持的交付方式", code="UNKNOWN_DELIVERY_METHOD")
    if case.delivery_at and _key(occurred_at, 0) < _key(case.delivery_at, 0):
        return False  # an older update arriving late must not overwrite a newer one
    case.delivery_method = event.data.method
    case.tracking_no = event.data.tracking_no
    case.delivery_at = occurred_at
    return True


async def _apply_delivery(conn, rules, case, event, occurred_at) -> bool:
    if not _plan_delivery(rules, case, event, occurred_at):
        return False
    await case.save(using_db=conn, update_fields=["delivery_method", "tracking_no", "delivery_at", "updated_at"])
    return True


def _plan_stage(catalog, rules, case, event, occurred_at, check_transitions) -> tuple[bool, CaseStageEntry]:
    """Check a stage change, move the case in memory when the event is newer, and return its (unsaved) entry."""
    data = event.data
    target = rules.stage(data.stage)
    if data.stage == "correction_required" and not data.missing_materials:
        raise Unprocessable("待补正须列明需补交的材料", code="MISSING_MATERIALS_REQUIRED")
    newer = _key(occurred_at, event.seq) > _key(case.stage_at, case.stage_seq)
    if newer and check_transitions and data.stage not in rules.stage(case.stage).next:
        raise Conflict(f"办件当前为“{rules.label(case.stage)}”，不能变更为“{target.label}”",
                       code="ILLEGAL_TRANSITION")
    entry = CaseStageEntry(case_id=case.id, event_id=event.event_id, stage=data.stage, occurred_at=occurred_at,
                           seq=event.seq, note=data.note, missing_materials=list(data.missing_materials),
                           applied=newer)
    if newer:
        case.stage, case.stage_at, case.stage_seq = data.stage, occurred_at, event.seq
        case.missing_materials = list(data.missing_materials) if data.stage == "correction_required" else []
        if data.stage == "accepted" and case.accepted_at is None:
            case.accepted_at = occurred_at
            case.promised_date = promised_date(catalog, case.business_type, occurred_at)
        _run_clock(catalog, case, target, occurred_at)
        case.finished_at = (case.finished_at or occurred_at) if target.finished else None
        if data.e_cert_no or data.e_cert_url:
            case.e_cert_no, case.e_cert_url = data.e_cert_no, data.e_cert_url
    return newer, entry


def stopped_working_days(catalog: Catalog, since: date, until: date) -> int:
    """Working days from the day the clock stopped up to (not including) the day it resumed."""
    days, n = 0, since
    while n < until:
        days += catalog.is_working_day(n)
        n += timedelta(days=1)
    return days


def _run_clock(catalog: Catalog, case: Case, target: StageInfo, at: datetime) -> None:
    """Stop the promised date's clock on entering a clock-stopping stage (待补正); on leaving it, move the
    promised date on by the working days it stood still."""
    if target.clock_stops:
        if case.correction_since is None:
            case.correction_since = at
        return
    if case.correction_since is None:
        return
    if case.promised_date is not None:
        stopped = stopped_working_days(catalog, case.correction_since.astimezone(catalog.tz).date(),
                                       at.astimezone(catalog.tz).date())
        if stopped:
            case.promised_date = catalog.add_working_days(case.promised_date, stopped)
    case.correction_since = None


async def _apply_stage(conn, catalog, rules, case, event, occurred_at, check_transitions) -> tuple[bool, list]:
    newer, entry = _plan_stage(catalog, rules, case, event, occurred_at, check_transitions)
    await entry.save(using_db=conn)
    if not newer:
        return False, []
    await case.save(using_db=conn, update_fields=["stage", "stage_at", "stage_seq", "missing_materials",
                                                  "accepted_at", "promised_date", "finished_at", "correction_since",
                                                  "e_cert_no", "e_cert_url", "updated_at"])
    citizens = await CaseSubscription.filter(case_id=case.id, active=True).using_db(conn).values_list(
        "citizen_id", flat=True)
    if citizens:
        await CaseNotification.bulk_create(
            [CaseNotification(stage_entry_id=entry.id, citizen_id=c) for c in citizens], using_db=conn)
    return True, [Push(event.event_id, entry.id, c) for c in citizens]


# ------------------------------------------------------------------ reading cases


def today(catalog: Catalog, now: datetime | None = None) -> date:
    return (now or catalog.now()).astimezone(catalog.tz).date()


def is_overdue(case: Case, rules: Rules, catalog: Catalog, now: datetime | None = None) -> bool:
    """Tell whether a case passed its promised date without being finished."""
    if case.promised_date is None or rules.stage(case.stage).finished or rules.stage(case.stage).clock_stops:
        return False
    return today(catalog, now) > case.promised_date


def _iso(value: datetime | None, catalog: Catalog) -> str | None:
    return value.astimezone(catalog.tz).isoformat(timespec="seconds") if value else None


def case_read(case: Case, *, applicants: list[CaseApplicant], history: list[CaseStageEntry], cipher: PiiCipher,
              catalog: Catalog, rules: Rules, now: datetime | None = None, masked: bool = True) -> dict:
    """Serialise a case; applicant names are masked unless a (audited) staff view asks otherwise."""
    bt = catalog.business_types.get(case.business_type)
    hall = catalog.halls.get(case.hall)
    overdue = is_overdue(case, rules, catalog, now)

    def name(a: CaseApplicant) -> str | None:
        if not a.name_enc:
            return None
        plain = cipher.decrypt(a.name_enc)
        return v.mask_name(plain) if masked else plain

    return {
        "receipt_no": case.receipt_no,
        "business_type": {"code": case.business_type, "name": bt.name if bt else case.business_type},
        "hall": {"code": case.hall, "name": hall.name if hall else case.hall},
        "stage": case.stage,
        "stage_label": rules.label(case.stage),
        "stage_at": _iso(case.stage_at, catalog),
        "status_label": rules.overdue_label if overdue else rules.label(case.stage),
        "overdue": overdue,
        "accepted_at": _iso(case.accepted_at, catalog),
        "promised_date": case.promised_date.isoformat() if case.promised_date else None,
        # Counted over a provisional calendar (holidays not yet published): an estimate until they are.
        "promised_date_provisional": bool(case.promised_date and catalog.is_provisional(case.promised_date)),
        "finished": rules.stage(case.stage).finished,
        "missing_materials": list(case.missing_materials or []) if case.stage == "correction_required" else [],
        "delivery": {"method": case.delivery_method,
                     "label": rules.delivery_methods.get(case.delivery_method or "", None),
                     "tracking_no": case.tracking_no},
        "e_certificate": ({"number": case.e_cert_no, "url": case.e_cert_url}
                          if case.e_cert_no or case.e_cert_url else None),
        "channel": case.channel,
        "clock_stopped": case.correction_since is not None,
        "applicants": [{"name": name(a)} for a in applicants],
        "history": [{"stage": h.stage, "label": rules.label(h.stage), "at": _iso(h.occurred_at, catalog),
                     "note": h.note, "missing_materials": list(h.missing_materials or [])} for h in history],
    }


_HISTORY_ORDER = ("occurred_at", "seq", "id")
_RECEIPT = re.compile(s.RECEIPT_PATTERN)


async def _parts(case: Case) -> tuple[list[CaseApplicant], list[CaseStageEntry]]:
    # Two independent reads: on PostgreSQL they run side by side on two pooled connections.
    return await asyncio.gather(CaseApplicant.filter(case_id=case.id).order_by("id"),
                                CaseStageEntry.filter(case_id=case.id).order_by(*_HISTORY_ORDER))


async def read(case: Case, *, cipher, catalog, rules, now=None, masked=True) -> dict:
    applicants, history = await _parts(case)
    return case_read(case, applicants=applicants, history=history, cipher=cipher, catalog=catalog, rules=rules,
                     now=now, masked=masked)


def _receipt_or_none(receipt_no: str) -> str | None:
    """A receipt number from a path, normalised, or None when it cannot be one."""
    value = s.normalize_receipt_no(receipt_no)
    return value if _RECEIPT.fullmatch(value) else None


async def get_or_raise(*, receipt_no: str) -> Case:
    receipt_no = _receipt_or_none(receipt_no)
    case = await Case.get_or_none(receipt_no=receipt_no) if receipt_no else None
    if case is None:
        raise NotFound("办件不存在", code="CASE_NOT_FOUND")
    return case


# ------------------------------------------------------------------ citizen lookups


class LookupLimited(TooManyRequests):
    code = "LOOKUP_RATE_LIMITED"
    message = "查询失败次数过多，请 1 小时后再试；如有疑问请携带身份证到大厅咨询"


_LOOKUP_MISS = "未查到办件，请核对受理编号和身份证号后 6 位"


class ReceiptLookupLimited(LookupLimited):
    message = "该受理编号近期查询失败次数过多，请 15 分钟后再试；申请人本人可在小程序“我的办件”中随时查看"


# Check every counter, then count this try against all of them, in one atomic step: parallel tries each
# take their own place, so no more than the limit ever reach the query, and a refused try counts nowhere
# (a locked-out address cannot keep raising a receipt number's count).
# KEYS: counters; ARGV: limit, window for each. Returns 0 (counted) or the index of the full counter.
_RESERVE = """
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[2 * i - 1]) then return i end
end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ARGV[2 * i]) end
end
return 0
"""


async def _own_case(user_id: int | None, receipt_no: str) -> bool:
    """Whether a logged-in, real-name-bound citizen is an applicant of the case (their own key to it)."""
    if user_id is None:
        return False
    citizen = await Citizen.get_or_none(id=user_id)
    return bool(citizen and citizen.id_hash and await CaseApplicant.exists(case__receipt_no=receipt_no,
                                                                           id_hash=citizen.id_hash))


async def lookup(*, redis, keys, cipher: PiiCipher, catalog: Catalog, rules: Rules, receipt_no: str,
                 id_last6: str, ip: str, user_id: int | None = None, now: datetime | None = None) -> dict:
    """Find a case by receipt number + the last 6 ID characters.

    Every try is counted before the query, per address, per logged-in citizen and per receipt number, and
    refunded when it finds the case, so the counts hold failures only. The receipt count (a short window)
    stops guessing one case's ID tail from many addresses; the price is that strangers' wrong guesses can
    hold that number's lookup for up to its window (15 minutes, not an hour) — never the applicant's own view
    of it: a bound citizen who is an applicant passes a full receipt count, and "my cases" has no limit.
    """
    counters = [(keys("progress", "lookup-fail", "ip", ip), rules.failures_per_ip, rules.window_seconds)]
    if user_id is not None:
        counters.append((keys("progress", "lookup-fail", "user", user_id), rules.failures_per_user,
                         rules.window_seconds))
    receipt_key = keys("progress", "lookup-fail", "receipt", receipt_no)
    counters.append((receipt_key, rules.failures_per_receipt, rules.receipt_window_seconds))
    script = redis.register_script(_RESERVE)
    full = await script(keys=[k for k, _, _ in counters], args=[v for _, lim, win in counters for v in (lim, win)])
    if full and counters[full - 1][0] == receipt_key and await _own_case(user_id, receipt_no):
        counters.pop()  # the applicant's own case: look it up, counted against the caller only
        full = await script(keys=[k for k, _, _ in counters], args=[v for _, lim, win in counters for v in (lim, win)])
    if full:
        raise ReceiptLookupLimited() if counters[full - 1][0] == receipt_key else LookupLimited()
    # The applicants come with their case in one join, and the history is read at the same time: one round
    # trip's latency instead of three (a wasted history read on a miss is the price, and misses are limited).
    applicants, history = await asyncio.gather(
        CaseApplicant.filter(case__receipt_no=receipt_no).select_related("case").order_by("id"),
        CaseStageEntry.filter(case__receipt_no=receipt_no).order_by(*_HISTORY_ORDER))
    digest = cipher.digest(id_last6, purpose="id6")
    if not any(hmac.compare_digest(a.id_last6_hash, digest) for a in applicants):
        # The same answer whether the number exists or the ID does not match: no enumeration.
        raise NotFound(_LOOKUP_MISS, code="CASE_NOT_FOUND")
    async with redis.pipeline(transaction=False) as pipe:
        for key, _, _ in counters:
            pipe.decr(key)  # found: this try was no failure
        await pipe.execute()
    return case_read(applicants[0].case, applicants=applicants, history=history, cipher=cipher, catalog=catalog,
                     rules=rules, now=now)


async def _bound_citizen(citizen_id: int) -> Citizen:
    citizen = await Citizen.get_or_none(id=citizen_id)
    if citizen is None or not citizen.id_hash:
        raise Forbidden("请先完成实名绑定", code="REAL_NAME_REQUIRED")
    return citizen


async def get_all_for_citizen(*, citizen_id: int, cipher, catalog, rules, now=None) -> list[dict]:
    """List the cases where the bound citizen is an applicant, newest first."""
    citizen = await _bound_citizen(citizen_id)
    case_ids = await CaseApplicant.filter(id_hash=citizen.id_hash).values_list("case_id", flat=True)
    cases = await Case.filter(id__in=list(case_ids)).order_by("-created_at", "-id").limit(200)
    ids = [c.id for c in cases]
    applicants, history = await asyncio.gather(
        CaseApplicant.filter(case_id__in=ids).order_by("id"),
        CaseStageEntry.filter(case_id__in=ids).order_by(*_HISTORY_ORDER)) if ids else ([], [])
    by_case: dict[int, tuple[list, list]] = {i: ([], []) for i in ids}
    for a in applicants:
        by_case[a.case_id][0].append(a)
    for h in history:
        by_case[h.case_id][1].append(h)
    return [case_read(c, applicants=by_case[c.id][0], history=by_case[c.id][1], cipher=cipher, catalog=catalog,
                      rules=rules, now=now) for c in cases]


async def _case_of_citizen(citizen: Citizen, receipt_no: str) -> Case:
    receipt_no = _receipt_or_none(receipt_no)
    case = await Case.get_or_none(receipt_no=receipt_no) if receipt_no else None
    if case is None or not await CaseApplicant.exists(case_id=case.id, id_hash=citizen.id_hash):
        raise NotFound("办件不存在或不是您本人的办件", code="CASE_NOT_FOUND")
    return case


async def get_for_citizen(*, citizen_id: int, receipt_no: str, cipher, catalog, rules, now=None) -> dict:
    """Return one of the bound citizen's cases (404 for anyone else's)."""
    citizen = await _bound_citizen(citizen_id)
    case = await _case_of_citizen(citizen, receipt_no)
    return await read(case, cipher=cipher, catalog=catalog, rules=rules, now=now)


async def update_subscription(*, citizen_id: int, receipt_no: str, active: bool) -> dict:
    """Record (or withdraw) the citizen's consent to stage-change pushes for one of their cases."""
    citizen = await _bound_citizen(citizen_id)
    case = await _case_of_citizen(citizen, receipt_no)
    sub, created = await CaseSubscription.get_or_create(case_id=case.id, citizen_id=citizen.id,
                                                        defaults={"active": active})
    if not created and sub.active != active:
        sub.active = active
        await sub.save(update_fields=["active", "updated_at"])
    return {"receipt_no": case.receipt_no, "subscribed": active}


async def subscribed(*, citizen_id: int, receipt_no: str) -> bool:
    """Whether the citizen asked for stage-change messages on this case of theirs (404 for anyone else's)."""
    citizen = await _bound_citizen(citizen_id)
    case = await _case_of_citizen(citizen, receipt_no)
    return await CaseSubscription.exists(case_id=case.id, citizen_id=citizen.id, active=True)


# ------------------------------------------------------------------ chat


def stage_text(data: dict) -> str:
    """Render a case read as chat text."""
    lines = [f"受理编号 {data['receipt_no']}（{data['business_type']['name']}）",
             f"当前环节：{data['stage_label']}（{(data['stage_at'] or '')[:16].replace('T', ' ')}）"]
    if data["promised_date"]:
        note = (f"（暂定：{data['promised_date'][:4]}年节假日安排尚未公布，以公布后的工作日为准）"
                if data.get("promised_date_provisional") else "")
        lines.append(f"承诺办结日期：{data['promised_date']}{note}")
    if data["overdue"]:
        lines.append(f"状态：{data['status_label']}，我们已提醒工作人员尽快办理，如有疑问请致电中心。")
    if data["missing_materials"]:
        lines.append("请补交以下材料：" + "；".join(data["missing_materials"]))
    delivery = data["delivery"]
    if delivery["label"]:
        tracking = f"，运单号 {delivery['tracking_no']}" if delivery["tracking_no"] else ""
        lines.append(f"领证方式：{delivery['label']}{tracking}")
    if data.get("e_certificate"):
        cert = data["e_certificate"]
        lines.append("电子证照：" + "，".join(x for x in (cert["number"] and f"证照编号 {cert['number']}",
                                                        cert["url"] and f"查看 {cert['url']}") if x))
    return "\n".join(lines)


CHAT_ASK_LOOKUP = ("为保护您的个人信息，请在小程序“办件进度”中输入受理编号和身份证号后 6 位查询；"
                   "完成实名绑定后，可在“我的办件”查看本人的全部办件。")


async def lookup_for_chat(*, app, openid: str, receipt_no: str, now: datetime | None = None) -> str:
    """Answer a receipt number typed in chat: stage text for the case's own applicant, otherwise a pointer.

    ``openid`` may be the mini-program's or the public account's: both lead to the same person.
    """
    from server.catalog import service as catalog_service
    from server.identity.service import citizen_for_openid

    receipt_no = s.normalize_receipt_no(receipt_no)
    citizen = await citizen_for_openid(app, openid=openid)
    if citizen is None or not citizen.id_hash:
        return CHAT_ASK_LOOKUP
    case = await Case.get_or_none(receipt_no=receipt_no)
    if case is None or not await CaseApplicant.exists(case_id=case.id, id_hash=citizen.id_hash):
        return CHAT_ASK_LOOKUP  # same answer whether the case exists or belongs to someone else
    catalog = await catalog_service.get(app)
    data = await read(case, cipher=app.ctx.cipher, catalog=catalog, rules=rules_for(app.ctx.settings), now=now)
    return stage_text(data)


CHAT_MAX_CASES = 5


async def my_cases_for_chat(*, app, openid: str, now: datetime | None = None) -> str | None:
    """"我的案子办到哪了" from a citizen with a verified binding: their cases, no receipt number asked.

    None when the person behind the openid has no verified binding (the caller then asks for a receipt number).
    """
    from server.catalog import service as catalog_service
    from server.identity.service import citizen_for_openid

    citizen = await citizen_for_openid(app, openid=openid)
    if citizen is None or not citizen.id_hash:
        return None
    catalog = await catalog_service.get(app)
    cases = await get_all_for_citizen(citizen_id=citizen.id, cipher=app.ctx.cipher, catalog=catalog,
                                      rules=rules_for(app.ctx.settings), now=now)
    if not cases:
        return "您名下暂无登记办件。如刚刚受理，请稍后再查；也可以发送受理编号查询。"
    unfinished = [c for c in cases if not c.get("finished")] or cases
    shown = unfinished[:CHAT_MAX_CASES]
    more = len(cases) - len(shown)
    text = "\n\n".join(stage_text(c) for c in shown)
    tail = f"\n\n另有 {more} 件办件，可在小程序“我的办件”查看全部。" if more > 0 else ""
    return f"您名下的办件（{len(cases)} 件）：\n\n{text}{tail}"


# ------------------------------------------------------------------ staff


async def overdue(*, catalog: Catalog, rules: Rules, hall: str | None = None, business_type: str | None = None,
                  limit: int = 200, now: datetime | None = None) -> dict:
    """Count unfinished cases past their promised date, grouped by hall and business type."""
    qs = Case.filter(promised_date__lt=today(catalog, now), stage__in=rules.overdue_candidates)
    if hall:
        qs = qs.filter(hall=hall)
    if business_type:
        qs = qs.filter(business_type=business_type)
    groups = await qs.annotate(count=Count("id")).group_by("hall", "business_type").values(
        "hall", "business_type", "count")
    # The most overdue first, read stage by stage along the (stage, promised_date, …) index and merged: one
    # ordered scan of promised_date would walk past every finished case with an old promised date first.
    items = []
    for stage_code in rules.unfinished:
        items += await qs.filter(stage=stage_code).order_by("promised_date", "id").limit(limit)
    items = sorted(items, key=lambda c: (c.promised_date, c.id))[:limit]
    day = today(catalog, now)

    def bt_name(code):
        bt = catalog.business_types.get(code)
        return bt.name if bt else code

    def hall_name(code):
        h = catalog.halls.get(code)
        return h.name if h else code

    return {
        "total": sum(g["count"] for g in groups),
        "groups": sorted(({"hall": g["hall"], "hall_name": hall_name(g["hall"]),
                           "business_type": g["business_type"], "business_type_name": bt_name(g["business_type"]),
                           "count": g["count"]} for g in groups),
                         key=lambda g: (g["hall"], g["business_type"])),
        "items": [{"receipt_no": c.receipt_no, "hall": c.hall, "business_type": c.business_type,
                   "stage": c.stage, "stage_label": rules.label(c.stage),
                   "promised_date": c.promised_date.isoformat(), "days_overdue": (day - c.promised_date).days,
                   "flagged_at": _iso(c.overdue_flagged_at, catalog)} for c in items],
    }


async def flag_overdue(*, catalog: Catalog, rules: Rules, now: datetime | None = None) -> int:
    """Mark newly overdue cases for staff; return how many were flagged."""
    return await Case.filter(promised_date__lt=today(catalog, now), stage__in=rules.overdue_candidates,
                             overdue_flagged_at__isnull=True).update(overdue_flagged_at=now or catalog.now())


# ------------------------------------------------------------------ notifications


async def claim_notification(*, stage_entry_id: int, citizen_id: int, now: datetime | None = None) -> bool:
    """Claim a pending push with a conditional update so only one runner ever sends it."""
    updated = await CaseNotification.filter(stage_entry_id=stage_entry_id, citizen_id=citizen_id,
                                            status="pending").update(status="sending",
                                                                     claimed_at=now or datetime.now(UTC))
    return updated == 1


async def mark_attempt(*, stage_entry_id: int, citizen_id: int, now: datetime | None = None) -> None:
    """Note, just before the WeChat call, that this push may leave: from here on a crash means it may have been
    delivered. A resend keeps the time of the interrupted attempt (the one that may have been delivered)."""
    await CaseNotification.filter(stage_entry_id=stage_entry_id, citizen_id=citizen_id, status="sending",
                                  attempted_at__isnull=True).update(attempted_at=now or datetime.now(UTC))


# One attempt holds "sending" only for its WeChat call (seconds, bounded by the client's timeout); 3 minutes plus
# the sweep's 2-minute period keeps a resend inside WeChat's 10-minute client_msg_id window (template messages)
# whenever the service is back within it.
STUCK_AFTER = timedelta(minutes=3)
# `error` of a push a crash interrupted after its WeChat call may have left; kept through transient retries so
# the resend knows that 43101 (consent already used) means the lost attempt was delivered.
RESUMED = "RESUMED"
# `error` of a push recorded as sent because its resend met 43101: delivered before the crash (consent used).
CONSENT_USED = "CONSENT_USED"
# `error` of a push neither app could deliver (no mini-program consent or openid, not a public-account follower).
UNREACHABLE = "UNREACHABLE"


async def recover_stuck(*, now: datetime | None = None) -> list[dict]:
    """Put pushes a crashed runner left in "sending" back to pending, returned to be enqueued again.

    One that never reached the WeChat call (no `attempted_at`) is simply sent. One that may have reached
    it is marked RESUMED and sent again: a subscribe message spends one of the citizen's one-time consents
    per delivered message, so if the lost attempt was delivered the resend meets 43101 and is recorded as
    delivered (CONSENT_USED) instead of reaching the citizen twice (see docs/architecture.md for the case of
    a citizen who granted several consents)."""
    cutoff = (now or datetime.now(UTC)) - STUCK_AFTER
    stuck = CaseNotification.filter(status="sending", claimed_at__lt=cutoff)
    ids = await stuck.values_list("id", flat=True)
    if not ids:
        return []
    # Conditional on still being stuck: a slow runner that finished meanwhile keeps its outcome.
    await CaseNotification.filter(id__in=list(ids), status="sending", attempted_at__not_isnull=True).update(
        status="pending", claimed_at=None, error=RESUMED)
    await CaseNotification.filter(id__in=list(ids), status="sending", attempted_at__isnull=True).update(
        status="pending", claimed_at=None)
    return await CaseNotification.filter(id__in=list(ids), status="pending").values(
        "stage_entry_id", "citizen_id", "stage_entry__event_id")


async def is_resumed(*, stage_entry_id: int, citizen_id: int) -> bool:
    """Tell whether a claimed push is the resend of an attempt a crash interrupted."""
    return await CaseNotification.filter(stage_entry_id=stage_entry_id, citizen_id=citizen_id,
                                         error=RESUMED).exists()


async def finish_notification(*, stage_entry_id: int, citizen_id: int, status: str, error: str | None = None) -> None:
    """Record the outcome of a claimed push (sent, failed, or pending again for a retry)."""
    notification = await CaseNotification.get(stage_entry_id=stage_entry_id, citizen_id=citizen_id)
    notification.status = status
    notification.error = error
    notification.tries += 1
    if status == "sent":
        # Delivered by the interrupted attempt: that attempt's time is when it reached the citizen.
        notification.sent_at = (notification.attempted_at if error == CONSENT_USED and notification.attempted_at
                                else datetime.now(UTC))
    await notification.save(update_fields=["status", "error", "tries", "sent_at", "updated_at"])


async def push_content(*, stage_entry_id: int, citizen_id: int, catalog: Catalog, rules: Rules) -> dict | None:
    """Build the stage-change message for one subscriber: the mini-program subscribe message (for their mini-program
    openid) and the public account's template message (for their public-account openid, linking the /h5/ case
    page; client_msg_id from case and stage change, so a resend is never delivered twice). None when the citizen
    has neither openid or no longer holds a verified binding of one of the case's applicants."""
    entry = await CaseStageEntry.get(id=stage_entry_id).prefetch_related("case")
    citizen = await Citizen.get_or_none(id=citizen_id)
    if citizen is None or not (citizen.openid or citizen.oa_openid) or not citizen.id_hash:
        return None
    if not await CaseApplicant.exists(case_id=entry.case_id, id_hash=citizen.id_hash):
        return None  # the subscriber no longer holds an applicant's ID number (taken back by its owner)
    case = entry.case
    bt = catalog.business_types.get(case.business_type)
    note = "；".join(entry.missing_materials or []) if entry.stage == "correction_required" else (entry.note or "")
    if case.e_cert_no and rules.stage(entry.stage).finished and entry.stage == case.stage:
        note = f"电子证照 {case.e_cert_no}"  # the number fits the 20-character field; the page links it
    values = {"receipt_no": case.receipt_no, "business": bt.short_name if bt else case.business_type,
              "stage": rules.stage(entry.stage).phrase,
              "occurred_at": entry.occurred_at.astimezone(catalog.tz).strftime("%Y-%m-%d %H:%M"),
              "note": note or "点击查看办件详情"}
    template = rules.templates["stage_changed"]
    data = {name: {"value": fit(name, str(values[source]))} for name, source in template["fields"].items()}
    page = template["page"].format(receipt_no=case.receipt_no)
    if case.e_cert_no and entry.stage == case.stage:
        page += ("&" if "?" in page else "?") + f"e_cert_no={case.e_cert_no}"
    oa, oa_template = rules.templates.get(OA_TEMPLATE), None
    if oa and citizen.oa_openid:
        oa_template = {"template_id": oa["template_id"], "path": oa.get("url", "").format(**values) or None,
                       "data": {k: {"value": fit(k, str(f).format(**values))} for k, f in oa["data"].items()},
                       "client_msg_id": f"case-{case.id}-stage-{entry.id}"}
    return {"openid": citizen.openid, "oa_openid": citizen.oa_openid, "template_id": template["template_id"],
            "page": page, "data": data, "oa_template": oa_template}


def parse_batch(body: bytes) -> tuple[list, bool]:
    """Read an ingest body: one event object or {"events": [...]}; also tell whether it was a single event."""
    try:
        data = json.loads(body or b"null")
    except ValueError as exc:
        raise BadRequest("请求体不是有效的 JSON", code="INVALID_JSON") from exc
    single = isinstance(data, dict) and "events" not in data
    if isinstance(data, dict) and set(data) == {"events"}:
        data = data["events"]
        if not isinstance(data, list):
            raise BadRequest("events 应为列表", code="INVALID_BATCH")
    elif isinstance(data, dict):
        data = [data]
    else:
        raise BadRequest("请求体应为事件对象或 {\"events\": [...]}", code="INVALID_BATCH")
    if not data:
        raise BadRequest("事件列表为空", code="INVALID_BATCH")
    if len(data) > s.MAX_BATCH:
        raise BadRequest(f"每批最多 {s.MAX_BATCH} 个事件", code="BATCH_TOO_LARGE")
    return data, single
