"""An account without an AES key (plain mode): replays are refused, and so are DTDs in any encoding."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from tests.wechat.helpers import text_xml
from tests.wechat.test_replay import BOMB, QUESTION, code


@pytest.fixture
def settings(settings):
    settings.wechat_aes_key = SecretStr("")
    return settings


async def test_plain_mode_answers_without_an_aes_key(wx, oracle):
    res = await wx.post(text_xml("o-plain", QUESTION), "plain")
    assert res.status_code == 200 and "<Encrypt>" not in res.text
    assert oracle.answer(QUESTION).text in wx.reply(res)["Content"]


async def test_a_captured_query_string_cannot_carry_another_body(client, wx):
    """Before: one captured query string let anyone post any body as any openid for 5 minutes."""
    q = wx.query()
    assert (await client.post("/wechat", params=q, content=text_xml("o-victim", QUESTION).encode())).status_code == 200
    forged = await client.post("/wechat", params=q, content=text_xml("o-someone-else", "我要预约").encode())
    assert (forged.status_code, code(forged)) == (403, "WECHAT_REPLAYED")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-8"])
async def test_a_dtd_is_refused_in_every_encoding(client, wx, encoding):
    doc = BOMB if encoding != "utf-8" else BOMB.replace('encoding="UTF-16"', 'encoding="UTF-8"')
    res = await client.post("/wechat", params=wx.query(), content=doc.encode(encoding))
    assert (res.status_code, code(res)) == (400, "WECHAT_BAD_MESSAGE")
    assert "哈哈" not in res.text
