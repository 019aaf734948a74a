"""Business types carry their online mode with effective dates: a phased rollout changes booking and hints
on its date, without a deploy."""

from models import BusinessType
from server.catalog import service as catalog_service
from tests.booking.conftest import at, book, citizen, error_code


async def test_online_rollout_changes_booking_and_hints_on_its_date(client, live, clock):
    await BusinessType.filter(code="secondhand_transfer").update(online_schedule=[
        {"from": "2026-11-26", "handling": "online", "booking": "none_online", "online_hint": "已实行全程网办"}])
    await BusinessType.filter(code="inheritance").update(online_schedule=[
        {"from": "2026-11-25", "handling": "optional_online", "booking": "required",
         "online_hint": "可网上办理，无需到厅"}])
    await catalog_service.changed(live.app)
    headers, _ = await citizen(client)
    before = await book(client, headers, date="2026-11-25", start="09:00")
    assert before.status_code == 201 and before.json()["online_hint"] == "可网上办理，无需到厅"
    after = await book(client, headers, date="2026-11-26", start="09:00")
    assert after.status_code == 422 and error_code(after) == "ONLINE_ONLY"
    assert "已实行全程网办" in after.json()["error"]["message"]
    other, _ = await citizen(client)
    hall_only = await book(client, other, business_type="inheritance", date="2026-11-24")
    assert hall_only.status_code == 201 and hall_only.json()["online_hint"] is None
    phased = await book(client, other, business_type="inheritance", date="2026-11-25")
    assert phased.status_code == 201 and phased.json()["online_hint"] == "可网上办理，无需到厅"

    def mode(items, code):
        return next(i for i in items if i["code"] == code)

    items = (await client.get("/api/business-types")).json()["items"]
    assert mode(items, "secondhand_transfer")["handling"] == "optional_online"
    assert mode(items, "secondhand_transfer")["handling_text"] == "可选网办"
    clock.set(at(26, 8, 0))
    items = (await client.get("/api/business-types")).json()["items"]
    assert mode(items, "secondhand_transfer")["handling"] == "online"
    assert mode(items, "secondhand_transfer")["handling_text"] == "全程网办"
    assert mode(items, "inheritance")["online_hint"] == "可网上办理，无需到厅"


async def test_online_schedule_in_the_data_file_is_validated(tmp_path):
    import shutil

    import pytest
    import yaml

    from config.seed_schema import SeedError, load_seed
    from config.settings import PROJECT_DIR

    shutil.copytree(PROJECT_DIR / "config" / "data", tmp_path / "data")
    path = tmp_path / "data" / "business_types.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["business_types"][3]["online_schedule"] = [{"from": "2027-06-01", "handling": "online",
                                                    "booking": "required", "online_hint": "全程网办"}]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(SeedError):
        load_seed(tmp_path / "data")
    data["business_types"][3]["online_schedule"][0]["booking"] = "none_online"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert load_seed(tmp_path / "data").business_types[3].online_schedule[0].handling.value == "online"
