from __future__ import annotations

import re
import time

import pytest
import yaml

from bot.engine import DEFAULT_DATA_DIR, Bot, DataError
from bot.normalize import normalize, normalize_for_match


def test_normalize_traditional_fullwidth_case_and_spaces():
    assert normalize("二手房過戶　要帶什麼材料") == "二手房过户 要带什么材料"
    assert normalize("ＥＭＳ  郵寄") == "ems 邮寄"
    assert normalize("２０２４－０４２６－０００１２３") == "2024-0426-000123"
    assert normalize_for_match("房本丢了，怎么办？！") == "房本丢了 怎么办"


def test_construction_is_fast():
    t = time.perf_counter()
    Bot()
    assert time.perf_counter() - t < 3.0


def test_suggest_band_lists_three_numbered_questions(bot):
    reply = bot.answer("材料")  # only an aspect word: it fits several entries alike
    assert reply.kind == "suggest", reply
    assert reply.entry_id is None
    assert len(reply.candidates) == 3
    lines = reply.text.splitlines()
    assert lines[0] == "您是不是想问："
    assert lines[-1] == "回复数字即可查看答案。"
    for n, (_entry_id, question, score) in enumerate(reply.candidates, 1):
        assert lines[n] == f"{n}. {question}"
        assert 0 <= score <= reply.score
    ids = {c[0] for c in reply.candidates}
    assert len(ids) == 3 and all("材料" in bot.pick(i).text for i in ids)  # each one speaks of materials
    # Within the band, by construction.
    assert reply.score >= bot._index.suggest_threshold  # confident, but no entry is more specific than the rest


def test_pick_returns_the_entry_answer(bot):
    reply = bot.pick("fee-nonresidential")
    assert (reply.kind, reply.entry_id, reply.score) == ("answer", "fee-nonresidential", 1.0)
    assert "550元/件" in reply.text
    assert bot.pick("no-such-entry").kind == "fallback"


def test_scores_are_normalised(bot):
    for q in ["二手房过户要带什么材料", "材料", "天气", "城东大厅"]:
        r = bot.answer(q)
        assert 0.0 <= r.score <= 1.0
        assert all(0.0 <= c[2] <= 1.0 for c in r.candidates)


def test_empty_input_falls_back(bot):
    for text in ["", "   ", "。。。"]:
        assert bot.answer(text).kind == "fallback"


def test_reply_to_dict_is_json_ready(bot):
    d = bot.answer("城东大厅的地址").to_dict()
    assert d["entry_id"] == "hall-east"
    assert set(d) >= {"kind", "text", "entry_id", "score", "candidates", "intent", "receipt_no"}


def test_reload_picks_up_edited_copy(data_copy):
    bot = Bot(data_copy)
    before = bot.answer("城东大厅在哪里")
    assert "东城路18号" in before.text

    kb_path = data_copy / "kb.yaml"
    kb = yaml.safe_load(kb_path.read_text(encoding="utf-8"))
    for e in kb["entries"]:
        if e["id"] == "hall-east":
            e["answer"] = "城东大厅已搬迁至东城路88号。"
    kb["entries"].append(
        {
            "id": "parking",
            "category": "中心与大厅",
            "question": "大厅有停车场吗？",
            "phrasings": ["停车方便吗", "哪里停车"],
            "keywords": ["停车场", "停车"],
            "answer": "中心大厅地下有停车场，前1小时免费。",
        }
    )
    kb_path.write_text(yaml.safe_dump(kb, allow_unicode=True), encoding="utf-8")
    # Not visible until reload: staff edits apply on demand, atomically.
    assert bot.answer("大厅有停车场吗").entry_id != "parking"

    bot.reload()
    assert "东城路88号" in bot.answer("城东大厅在哪里").text
    r = bot.answer("大厅有停车场吗")
    assert (r.kind, r.entry_id) == ("answer", "parking")


def test_reload_with_broken_file_keeps_old_index(data_copy):
    bot = Bot(data_copy)
    (data_copy / "kb.yaml").write_text("entries: [ {id: x", encoding="utf-8")
    with pytest.raises(DataError):
        bot.reload()
    assert bot.answer("城东大厅的地址").entry_id == "hall-east"


def test_duplicate_ids_rejected(data_copy):
    kb_path = data_copy / "kb.yaml"
    kb = yaml.safe_load(kb_path.read_text(encoding="utf-8"))
    kb["entries"].append(dict(kb["entries"][0]))
    kb_path.write_text(yaml.safe_dump(kb, allow_unicode=True), encoding="utf-8")
    with pytest.raises(DataError, match="duplicate id"):
        Bot(data_copy)


def test_thresholds_and_texts_come_from_data(data_copy):
    path = data_copy / "intents.yaml"
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    cfg["settings"]["answer_threshold"] = 0.99
    cfg["settings"]["suggest_threshold"] = 0.98
    cfg["texts"]["fallback"] = "请致电96510咨询人工客服。"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    # A question worded unlike any listed phrasing goes through the thresholds (listed ones are always answered).
    r = Bot(data_copy).answer("二手房过户要带户口本和结婚证吗")
    assert (r.kind, r.text) == ("fallback", "请致电96510咨询人工客服。")
    assert Bot(data_copy).answer("二手房过户要带什么材料").kind == "answer"


def test_synonyms_come_from_data(data_copy):
    # An unknown slang word gets no confident answer until staff add it as a synonym.
    assert Bot(data_copy).answer("小蓝本").kind != "answer"
    path = data_copy / "synonyms.yaml"
    syn = yaml.safe_load(path.read_text(encoding="utf-8"))
    syn["住房情况证明"].append("小蓝本")
    path.write_text(yaml.safe_dump(syn, allow_unicode=True), encoding="utf-8")
    r = Bot(data_copy).answer("小蓝本")
    assert (r.kind, r.entry_id) == ("answer", "housing-proof")


# ── knowledge base content ──

KB = yaml.safe_load((DEFAULT_DATA_DIR / "kb.yaml").read_text(encoding="utf-8"))["entries"]
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_kb_entries_are_complete():
    assert 60 <= len(KB) <= 90
    assert len({e["id"] for e in KB}) == len(KB)
    for e in KB:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", e["id"]), e["id"]
        assert e["category"] and e["question"] and e["answer"]
        assert len(e["phrasings"]) >= 2, e["id"]
        assert e["keywords"], e["id"]
        assert CJK.search(e["answer"]), e["id"]


@pytest.mark.parametrize(
    "fact",
    [
        "市政务服务中心2楼",
        "东城路18号",
        "西苑大道66号",
        "南湖路101号",
        "北站街9号",
        "新区市民中心1楼",
        "96510",
        "13:30–17:00",
        "8:00",
        "1小时",
        "2小时",
        "30天",
        "90天",
        "统一社会信用代码",
        "待确认",
        "可网上办理，无需到厅",
        "绿色通道",
        "80元/件",
        "550元/件",
        "10元",
        "小微企业",
        "他项权证",
        "专项维修资金",
        "死亡证明",
        "放弃继承声明",
        "律师事务所函件",
        "自助查询机",
        "协助执行通知书",
        "遗失声明",
        "EMS",
        "电子证照",
        "已登簿",
        "待补正",
        "已超期",
        "37家",
        "中介机构",
        "单向流动",
        "每半小时",
        "30分钟",
        "预约确认模式",
        "同意转让",
    ],
)
def test_these_guide_facts_are_each_in_some_answer(bot, fact):
    """A chosen list of facts from the guide (not every fact of it), each found in some answer."""
    # Answers quote the catalog's figures through placeholders: check them as the bot says them.
    assert any(fact in e.answer for e in bot.entries), fact


def test_no_listed_wording_is_off_topic(bot):
    # An off-topic word inside the knowledge base's own wording would turn its neighbours' questions away.
    from bot.engine import _compact

    idx = bot._index
    clashes = [(e.id, text) for e in bot.entries for text in (e.question, *e.phrasings, *e.keywords)
               if idx.offtopic_re.search(_compact(text))]
    assert clashes == []
    assert bot.answer("大厅附近有复印店吗").kind == "fallback"


@pytest.mark.parametrize("question,pasted", [
    ("二手房过户要带什么材料", "我是李四 {id}"),
    ("抵押注销需要什么材料", "手机13912345678 王小明"),
    ("预约了怎么取消", "身份证：{id}"),
])
def test_pasted_personal_data_does_not_change_the_answer(bot, question, pasted):
    from tests.factories import make_id_number

    plain = bot.answer(question)
    assert plain.kind == "answer"
    for text in (f"{question} {pasted}", f"{pasted}，{question}"):
        got = bot.answer(text.format(id=make_id_number(seq=7)))
        assert (got.kind, got.entry_id) == (plain.kind, plain.entry_id), text


def test_receipt_number_still_reaches_progress(bot):
    r = bot.answer("受理编号2024-0426-000123到哪了 我是张三 13912345678")
    assert r.intent == "progress" and r.receipt_no == "2024-0426-000123"


def test_an_event_entry_needs_its_object_when_a_word_is_unknown(bot):
    # 损坏 / 补发 belong to the lost-certificate entry, but a broken loyalty card is no certificate.
    assert bot.answer("会员卡坏了在哪补").kind == "fallback"
    r = bot.answer("房本被狗咬坏了怎么补")
    assert (r.kind, r.entry_id) == ("answer", "lost-certificate")


def test_topic_words_come_from_data(data_copy):
    # Without the entry's object words in intents.yaml the same question reaches the entry: the rule is data.
    before = Bot(data_copy).answer("会员卡坏了在哪补")
    path = data_copy / "intents.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("  topic_words:")
    end = text.index("\n", text.index("notice-institutions:", start))
    path.write_text(text[:start] + text[end + 1 :], encoding="utf-8")
    after = Bot(data_copy).answer("会员卡坏了在哪补")
    assert before.kind == "fallback"
    assert (after.kind, after.entry_id) == ("answer", "lost-certificate")


def test_aspect_words_order_close_siblings(bot):
    # Both mortgage entries speak of banks; the question asks who pays, which only the fee entry speaks of.
    r = bot.answer("办抵押登记是银行出钱吗")
    assert (r.kind, r.entry_id) == ("answer", "mortgage-first-fee")


def test_the_sibling_that_speaks_of_the_asked_side_answers(data_copy):
    # 卖方 weighs toward resale's fee entry ("过户费买方出还是卖方出"), but the question asks what to bring: among
    # the entries of the same business, the one that speaks of materials answers, even when its wording lacks 卖方.
    path = data_copy / "kb.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("买卖双方, 卖方, 买方, ", "").replace("      - 卖方要带什么材料\n", "")
    path.write_text(text, encoding="utf-8")
    bot = Bot(data_copy)
    assert "卖方" not in bot.pick("transfer-secondhand-materials").text.replace("买卖双方", "")
    r = bot.answer("二手房过户卖方要带什么")
    assert (r.kind, r.entry_id) == ("answer", "transfer-secondhand-materials")
    assert r.candidates[1][0] == "transfer-secondhand-fee"  # the displaced entry stays second


def test_aspect_aliases_come_from_data(bot, data_copy):
    # 登记费 asks the fee side (intents.yaml settings.aspect_aliases), so the mortgage fee entry answers.
    r = bot.answer("抵押登记费是银行交吗")
    assert (r.kind, r.entry_id) == ("answer", "mortgage-first-fee")
    path = data_copy / "intents.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("  aspect_aliases:")
    end = text.index("\n", text.index("    多久:", start))
    path.write_text(text[:start] + text[end + 1 :], encoding="utf-8")
    assert Bot(data_copy).answer("抵押登记费是银行交吗").entry_id != "mortgage-first-fee"
