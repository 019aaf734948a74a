"""What the bot stores for staff (unanswered questions, feedback) holds no ID numbers, mobiles or the names
typed next to them."""

from __future__ import annotations

import pytest

from models.bot import BotFeedback, BotMiss
from server.core.redact import ID_MARK, MOBILE_MARK, NAME_MARK, redact
from tests.factories import make_id_number, staff_headers

ID = make_id_number(seq=123)
WIDE_ID = ID.translate(str.maketrans("0123456789", "０１２３４５６７８９"))


@pytest.mark.parametrize("text,gone,kept", [
    (f"张三 {ID} 怎么查进度", ["张三", ID], [ID_MARK, NAME_MARK, "怎么查进度"]),
    ("我叫李四，手机13812345678", ["李四", "13812345678"], [MOBILE_MARK, "我叫"]),
    ("王小明13812345678", ["王小明", "13812345678"], [MOBILE_MARK]),
    (f"身份证号{ID[:6]} {ID[6:14]} {ID[14:]}能预约吗", [ID[6:14]], ["身份证号", ID_MARK, "能预约吗"]),
    ("电话 138-1234-5678 欧阳娜娜", ["1234", "欧阳娜娜"], [MOBILE_MARK, NAME_MARK]),
    ("二手房过户要带什么材料", [], ["二手房过户要带什么材料"]),
    ("受理编号2024-0426-000123到哪了", [], ["2024-0426-000123"]),
])
def test_redact(text, gone, kept):
    out = redact(text)
    for secret in gone:
        assert secret not in out, out
    for piece in kept:
        assert piece in out, out


async def test_misses_and_feedback_are_stored_redacted(live, client, wx):
    # Out of the center's domain, so a miss; the personal data in it is not what decides that.
    await wx.ask("o-pii", f"我叫张三丰 身份证{WIDE_ID} 手机13912345678 社保卡丢了怎么补")
    await wx.ask("o-pii", f"二手房过户要带什么材料 我是李四 {ID}")
    await wx.ask("o-pii", "有用")
    staff = await staff_headers(client, role="admin")
    page = await client.get("/api/staff/bot/misses", headers=staff)
    assert page.status_code == 200 and page.json()["items"]
    stored = [m.question for m in await BotMiss.all()] + [f.question for f in await BotFeedback.all()]
    assert len(stored) >= 2 and await BotFeedback.exists()
    for text in [*stored, page.text]:
        for secret in (ID, "13912345678", "张三丰", "李四"):
            assert secret not in text, text
    assert any(ID_MARK in q and MOBILE_MARK in q and NAME_MARK in q for q in stored)
