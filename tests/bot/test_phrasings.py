"""Harder phrasings than the dev set: Traditional Chinese, full-width input,
colloquial synonyms, wordy questions, out-of-domain questions and intents."""

from __future__ import annotations

import pytest

# (question, expected entry id, a fact the answer must contain)
FAQ = [
    ("二手房過戶要帶什麼材料", "transfer-secondhand-materials", "完税凭证"),
    ("二手房過戶需要什麼材料？", "transfer-secondhand-materials", "网签备案"),
    ("城東大廳在哪裡", "hall-east", "东城路18号"),
    ("房本丢了怎么办", "lost-certificate", "遗失声明"),
    ("房产证弄丢了咋办", "lost-certificate", "15个工作日"),
    ("按揭要啥材料", "mortgage-first-materials", "抵押合同"),
    ("解押怎么弄", "mortgage-cancel", "结清证明"),
    ("贷款还清了，解押要准备什么材料", "mortgage-cancel", "他项权证"),
    (
        "你好，我想问一下，我家买了一套二手房，现在要去办过户，请问都需要准备哪些材料呢？",
        "transfer-secondhand-materials",
        "不动产权证书",
    ),
    ("我父亲去世了，留下一套房子，我们想办继承，要带哪些资料？", "inheritance-materials", "死亡证明"),
    ("ＥＭＳ邮寄证书可以吗", "delivery-options", "EMS"),
    ("周６有大厅上班吗", "saturday-duty", "新区大厅"),
    ("新区大厅怎么走", "hall-newdistrict", "新区市民中心1楼"),
    ("购房证明在哪开", "housing-proof", "小程序"),
    ("无房证明怎么开", "housing-proof", "即时"),
    ("查名下房产要带什么", "info-query", "身份证"),
    ("新房办证谁来办", "newhouse-transfer", "开发企业"),
    ("开发商会帮我办房产证吗", "newhouse-transfer", "全程网办"),
    ("预约了没去会怎么样", "booking-no-show", "30天"),
    ("几点放号", "booking-release-time", "8:00"),
    ("改约怎么操作", "booking-reschedule", "2小时"),
    ("到了大厅怎么签到", "booking-checkin", "30分钟"),
    ("商铺登记费多少钱", "fee-nonresidential", "550元"),
    ("注销登记要钱吗", "fee-free", "免费"),  # listed word for word under the entry of free registrations
    ("双预告是什么", "presale-mortgage", "公积金中心"),
    ("法院查封房子要什么材料", "seal-registration", "协助执行通知书"),
    ("改名字了房本怎么改", "change-registration", "姓名变更证明"),
    ("有抵押的房子能过户吗", "transfer-mortgaged-house", "同意转让"),
    ("二手房过户多久能拿证", "transfer-secondhand-time", "3个工作日"),
    ("抵押登记能在银行直接办吗", "mortgage-online-banks", "7家"),
    ("国庆节上班吗", "holidays", "调休"),
    ("中午休息吗", "office-hours", "13:30"),
    ("一个身份证一天能约几次", "booking-limits", "3个"),
    ("能约当天的号吗", "booking-same-day", "1小时"),
    ("待补正是什么意思", "progress-correction", "补交材料"),
    ("已登簿是什么意思", "progress-stages", "缮证中"),
    ("电子证照是什么", "delivery-e-certificate", "电子证照"),
    ("进大厅要查健康码吗", "epidemic-entry", "核验"),
    ("放弃继承要本人来吗", "inheritance-waiver", "放弃继承声明"),
    ("小微企业免登记费吗", "fee-small-business", "免收"),
    ("过户的登记费谁交", "transfer-secondhand-fee", "买方"),
    ("解押要钱吗", "mortgage-cancel-fee-time", "免费"),
    ("客服电话多少", "hotline", "96510"),
    ("　可以提前　多少天　预约？？", "booking-window", "7天"),
]

OUT_OF_DOMAIN = [
    "今天天气怎么样",
    "帮我写一首诗",
    "社保怎么交",
    "讲个笑话",
    "股票明天会涨吗",
    "怎么办护照",
    "推荐一家好吃的餐厅",
    "驾驶证到期了怎么换",
    "医保报销比例是多少",
    "asdfgh",
    "？？？",
]


@pytest.mark.parametrize("question,entry_id,fact", FAQ, ids=[c[0] for c in FAQ])
def test_faq_phrasings(bot, question, entry_id, fact):
    reply = bot.answer(question)
    assert reply.kind == "answer", reply
    assert reply.entry_id == entry_id, reply
    assert fact in reply.text
    assert 0.0 < reply.score <= 1.0


@pytest.mark.parametrize("question", OUT_OF_DOMAIN)
def test_out_of_domain_falls_back(bot, question):
    reply = bot.answer(question)
    assert reply.kind == "fallback", reply
    assert reply.entry_id is None
    assert "96510" in reply.text and "人工客服" in reply.text
    # No fact from any entry may leak into a fallback.
    assert "元/件" not in reply.text and "个工作日" not in reply.text
    assert reply.score < 0.35


@pytest.mark.parametrize(
    "question",
    ["我要预约", "怎么约号", "我想挂号", "我要预约二手房过户", "怎么预约？", "帮我約號"],
)
def test_booking_intent(bot, question):
    reply = bot.answer(question)
    assert (reply.kind, reply.intent) == ("intent", "booking"), reply
    assert "预约办事" in reply.text and "小程序" in reply.text


@pytest.mark.parametrize(
    "question,entry_id",
    [
        ("可以提前多少天预约", "booking-window"),
        ("企业怎么预约", "booking-enterprise"),
        ("怎样取消预约", "booking-cancel"),
        ("周六可以预约吗", "booking-saturday"),
    ],
)
def test_booking_rule_questions_get_the_faq_not_the_intent(bot, question, entry_id):
    reply = bot.answer(question)
    assert reply.intent is None
    assert (reply.kind, reply.entry_id) == ("answer", entry_id), reply


@pytest.mark.parametrize("question", ["我的证办到哪了", "查进度", "帮我查一下进度", "二手房过户办好了吗"])
def test_progress_intent_asks_for_receipt(bot, question):
    reply = bot.answer(question)
    assert (reply.kind, reply.intent, reply.receipt_no) == ("intent", "progress", None), reply
    assert "受理编号" in reply.text


@pytest.mark.parametrize(
    "text,receipt",
    [
        ("2024-0426-000123", "2024-0426-000123"),
        ("帮我查下２０２４－０４２６－０００１２３办到哪了", "2024-0426-000123"),
        ("受理编号 2024 0426 000123", "2024-0426-000123"),
        ("编号是20240426000123", "2024-0426-000123"),
    ],
)
def test_receipt_number_detected(bot, text, receipt):
    reply = bot.answer(text)
    assert (reply.kind, reply.intent, reply.receipt_no) == ("intent", "progress", receipt)
    assert receipt in reply.text


@pytest.mark.parametrize("text", ["我的身份证号是110101199003071234", "电话13800138000", "2024年4月26日"])
def test_other_numbers_are_not_receipts(bot, text):
    assert bot.answer(text).receipt_no is None


@pytest.mark.parametrize("text", ["你好", "您好！", "在吗？", "Hello"])
def test_greeting(bot, text):
    reply = bot.answer(text)
    assert (reply.kind, reply.intent) == ("intent", "greeting")
    assert "欢迎" in reply.text


def test_greeting_with_question_answers_the_question(bot):
    reply = bot.answer("你好，二手房过户要带什么材料")
    assert (reply.kind, reply.entry_id) == ("answer", "transfer-secondhand-materials")
