"""Every published dev question must be answered with the facts it expects."""

from __future__ import annotations

import pytest

from .conftest import DEV_QUESTIONS, load_dev_questions

CASES = load_dev_questions()


@pytest.mark.skipif(not CASES, reason=f"{DEV_QUESTIONS} not found: this test reads the shared folder "
                                      "../shared/ beside the repository, which a clone alone does not have")
@pytest.mark.parametrize("case", CASES, ids=[c["q"] for c in CASES])
def test_dev_question(bot, case):
    reply = bot.answer(case["q"])
    for group in case["expect"]:
        assert any(s in reply.text for s in group), f"missing one of {group}: {reply}"
    for group in case.get("expect_not", []):
        assert not any(s in reply.text for s in group), f"must not contain {group}: {reply}"
    if case.get("kind") == "fallback":
        assert reply.kind == "fallback"
        assert reply.entry_id is None
    else:
        assert reply.kind in ("answer", "intent")
