"""Every published dev question must be answered with the facts it expects."""

from __future__ import annotations

import pytest

from .conftest import RELATIVE, REPOSITORY_ROOTS, load_dev_questions

CASES = load_dev_questions()


@pytest.mark.skipif(not CASES, reason=f"no dev questions: ../{RELATIVE} not found beside the repository root "
                                        f"({', '.join(str(r) for r in REPOSITORY_ROOTS)})")
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


def test_dev_questions_are_looked_up_beside_the_repository_root():
    from .conftest import DEV_QUESTIONS

    assert any(DEV_QUESTIONS == root.parent / RELATIVE for root in REPOSITORY_ROOTS)
    assert (REPOSITORY_ROOTS[0] / "pyproject.toml").exists()  # the root is the checkout, wherever it sits
