"""`dengji cases import FILE` and `dengji ingest-client create NAME`."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from datetime import datetime
from pathlib import Path

_LIST_SEP = ";"


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _split(value: str | None) -> list[str]:
    return [p.strip() for p in (value or "").split(_LIST_SEP) if p.strip()]


def read_records(path: Path) -> list[dict]:
    """Read a CSV or JSON export of cases into records with the ingest fields."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        data = json.loads(text)
        records = data["cases"] if isinstance(data, dict) and "cases" in data else data
        if not isinstance(records, list):
            raise ValueError("JSON 文件应为办件列表，或 {\"cases\": [...]}")
        return records
    records = []
    for row in csv.DictReader(text.splitlines()):
        names, ids = _split(row.get("applicant_names")), _split(row.get("applicant_id_numbers"))
        record = {k: (v or None) for k, v in row.items()
                  if k not in ("applicant_names", "applicant_id_numbers", "missing_materials")}
        record["applicants"] = [{"name": names[i] if i < len(names) else None, "id_number": n}
                                for i, n in enumerate(ids)]
        record["missing_materials"] = _split(row.get("missing_materials"))
        records.append(record)
    return records


def records_to_events(records: list[dict], *, now: datetime) -> list:
    """Turn exported cases into ingest events with deterministic ids, so re-importing changes nothing."""
    events: list = []
    for r in records:
        if not isinstance(r, dict) or not r.get("receipt_no"):
            events.append({"event_id": None, "type": "case.created"})  # reported as rejected
            continue
        receipt = r["receipt_no"]
        created_at = r.get("accepted_at") or r.get("stage_at") or now.isoformat()
        data = {k: r.get(k) for k in ("receipt_no", "business_type", "hall", "applicants", "accepted_at",
                                      "delivery_method", "tracking_no") if r.get(k) is not None}
        events.append({"event_id": f"import:{receipt}:created", "type": "case.created",
                       "occurred_at": created_at, "data": data})
        stage = r.get("stage")
        if stage and stage not in ("accepted", "submitted"):
            stage_at = r.get("stage_at") or created_at
            change = {"receipt_no": receipt, "stage": stage}
            if r.get("note"):
                change["note"] = r["note"]
            if r.get("missing_materials"):
                change["missing_materials"] = r["missing_materials"]
            events.append({"event_id": f"import:{receipt}:stage:{stage}:{stage_at}", "type": "case.stage_changed",
                           "occurred_at": stage_at, "data": change})
    return events


async def import_file(settings, path: Path) -> dict:
    """Load an export through the same path as ingest events (imports trust the source's current stage)."""
    from server.catalog import service as catalog_service
    from server.core.crypto import PiiCipher
    from server.progress import service

    catalog = await catalog_service.load()
    events = records_to_events(read_records(path), now=catalog.now())
    results, _ = await service.ingest_events(cipher=PiiCipher(settings.master_key), catalog=catalog,
                                             rules=service.rules_for(settings), client="import", events=events,
                                             check_transitions=False)
    counts = {k: sum(1 for r in results if r["status"] == k) for k in ("accepted", "duplicate", "rejected")}
    return {**counts, "results": results}


def cmd_import(args: argparse.Namespace) -> None:
    from server.cli import _settings, _with_db

    settings = _settings()
    path = Path(args.file)
    if not path.exists():
        sys.exit(f"文件不存在：{path}")
    try:
        outcome = asyncio.run(_with_db(settings, lambda: import_file(settings, path)))
    except (ValueError, KeyError) as exc:
        sys.exit(f"文件格式有误：{exc}")
    for r in outcome["results"]:
        if r["status"] == "rejected":
            _out(f"未导入 {r.get('event_id') or '-'}：{r['error']['message']}")
    _out(f"导入完成：新增 {outcome['accepted']} 条，已存在 {outcome['duplicate']} 条，失败 {outcome['rejected']} 条")


def cmd_client_create(args: argparse.Namespace) -> None:
    from server.cli import _settings, _with_db
    from server.core.crypto import PiiCipher
    from server.core.errors import AppError
    from server.progress import service

    settings = _settings()
    try:
        client, secret = asyncio.run(_with_db(settings, lambda: service.create_client(
            cipher=PiiCipher(settings.master_key), name=args.name)))
    except AppError as exc:
        sys.exit(exc.message)
    _out(f"已创建接入系统 {client.name}")
    _out(f"X-Dengji-Key: {client.key_id}")
    _out(f"密钥（只显示这一次，请妥善保存）：{secret}")


def register(subparsers) -> None:
    cases = subparsers.add_parser("cases", help="办件").add_subparsers(dest="cases_command", required=True)
    imp = cases.add_parser("import", help="从登记业务系统导出的 CSV 或 JSON 文件导入办件（可重复执行）")
    imp.add_argument("file")
    imp.set_defaults(func=cmd_import)
    clients = subparsers.add_parser("ingest-client", help="登记业务系统接入").add_subparsers(
        dest="ingest_client_command", required=True)
    create = clients.add_parser("create", help="创建接入系统并显示其密钥")
    create.add_argument("name")
    create.set_defaults(func=cmd_client_create)
