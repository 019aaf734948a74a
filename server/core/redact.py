"""Redact personal data from free text before we store it (the bot's unanswered questions and feedback).

Citizens paste ID numbers and mobiles into chat; what the bot keeps for staff to read must not hold them,
nor the name typed next to them. Run on normalised text (full-width digits already folded to ASCII).
"""

from __future__ import annotations

import re

ID_MARK = "[身份证号]"
MOBILE_MARK = "[手机号]"
NAME_MARK = "[姓名]"

_SEP = r"[\s\-]?"
# 18-digit resident ID (last character may be X) or the old 15-digit one, not inside a longer number.
_ID = re.compile(r"(?<![0-9A-Za-z])(?:[1-9]\d{5}" + _SEP + r"(?:19|20)\d{2}" + _SEP + r"\d{4}" + _SEP
                 + r"\d{3}[0-9Xx]|[1-9]\d{14})(?![0-9A-Za-z])")
# A mainland mobile, possibly written 138 1234 5678 / 138-1234-5678, with an optional +86 / 86 in front.
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86" + _SEP + r")?1[3-9]\d" + _SEP + r"\d{4}" + _SEP + r"\d{4}(?![0-9])")
# A name introduced as one ("我叫张三", "姓名：李四", "申请人王小明").
_NAMED = re.compile(r"(姓名|名字|我叫|我是|申请人|本人|联系人|户主|业主|买方|卖方)(\s*(?:是|为|[:：])?\s*)"
                    r"([\u4e00-\u9fff·]{2,4})")
# Common surnames (single and compound): a Han word beside a number is taken for a name only when it starts
# with one, so "怎么查进度" after an ID number stays.
_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
             "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴"
             "莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童"
             "凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦"
             "麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明"
             "佘池查麻苑迟邝")
_COMPOUND = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "令狐", "夏侯", "司徒")
_NAME_WORD = r"((?:" + "|".join(_COMPOUND) + r"|[" + _SURNAMES + r"])[\u4e00-\u9fff·]{1,3})(?![\u4e00-\u9fff])"
# A name-like word right next to a redacted number, when it is not the number's label.
_LABELS = ("身份证号", "身份证", "证件号", "证件号码", "号码", "手机号", "手机号码", "手机", "电话", "联系电话",
           "电话号码", "我的", "是", "的", "号")
_BEFORE = re.compile(r"([\u4e00-\u9fff·]{2,8})(\s*)(?=" + re.escape(ID_MARK) + "|" + re.escape(MOBILE_MARK) + ")")
_AFTER = re.compile("(" + re.escape(ID_MARK) + "|" + re.escape(MOBILE_MARK) + r")(\s*)" + _NAME_WORD)


def _is_name(word: str) -> bool:
    return 2 <= len(word) <= 4 and (word[0] in _SURNAMES or word.startswith(_COMPOUND))


def _name_or_label(word: str) -> str:
    """Keep a label ("身份证号") and the words before it; mask a name, alone or in front of a label."""
    for label in sorted(_LABELS, key=len, reverse=True):
        if word.endswith(label):
            head = word[: -len(label)]
            return (NAME_MARK if _is_name(head) else head) + label
    return NAME_MARK if _is_name(word) else word


def redact(text: str) -> str:
    """Replace ID numbers, mobiles and the names typed next to them with markers."""
    if not text:
        return text
    out = _ID.sub(ID_MARK, text)
    out = _MOBILE.sub(MOBILE_MARK, out)
    out = _NAMED.sub(lambda m: m.group(1) + m.group(2) + NAME_MARK, out)
    if out != text:  # a number was there: names beside it go too
        out = _BEFORE.sub(lambda m: _name_or_label(m.group(1)) + m.group(2), out)
        out = _AFTER.sub(lambda m: m.group(1) + m.group(2) + (NAME_MARK if _is_name(m.group(3)) else m.group(3)),
                         out)
    return out


_DIGIT = re.compile(r"\d")
# A marker with the label that introduced it ("身份证[身份证号]", "手机：[手机号]"): the label only named the number.
_MARKS = re.compile("(?:(?:" + "|".join(map(re.escape, sorted(_LABELS, key=len, reverse=True))) + r")\s*[:：]?\s*)?(?:"
                    + "|".join(map(re.escape, (ID_MARK, MOBILE_MARK, NAME_MARK))) + ")")


def strip_personal(text: str) -> str:
    """The text with ID numbers, mobiles and the names beside them removed (for matching, not storage).

    Cheap for the usual question: without a digit there is nothing to strip."""
    if not text or not _DIGIT.search(text):
        return text
    out = redact(text)
    return text if out == text else _MARKS.sub(" ", out)
