"""Which organisations a target reaches: AND across dimensions, OR within one; suspended ones never."""

from __future__ import annotations

from models import Organization, OrgType

DIMENSIONS = ("types", "districts", "business_lines", "tags", "org_ids", "online_mortgage_banks")


async def matching_org_ids(target: dict) -> list[int]:
    """Return the ids of active organisations the target selects."""
    query = Organization.filter(suspended=False)
    if not target.get("all"):
        if not any(target.get(d) for d in DIMENSIONS):
            return []
        if target.get("types"):
            query = query.filter(type__in=target["types"])
        if target.get("districts"):
            query = query.filter(district__in=target["districts"])
        if target.get("org_ids"):
            query = query.filter(id__in=target["org_ids"])
        if target.get("online_mortgage_banks"):
            # "Banks with online mortgage": bank organisations named in the bank data (config/data/banks.yaml)
            # as having fully online mortgage registration.
            from server.operations.banks import online_mortgage_names

            query = query.filter(type=OrgType.BANK, name__in=await online_mortgage_names())
    orgs = await query.order_by("id").values("id", "business_lines", "tags")
    if target.get("all"):
        return [o["id"] for o in orgs]
    # List-valued columns are JSON; matching them in Python keeps SQLite and PostgreSQL alike
    # (organisations number in the hundreds, members in the thousands).
    lines, tags = set(target.get("business_lines") or ()), set(target.get("tags") or ())
    return [o["id"] for o in orgs
            if (not lines or lines & set(o["business_lines"] or ()))
            and (not tags or tags & set(o["tags"] or ()))]
