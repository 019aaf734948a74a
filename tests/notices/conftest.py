"""Notices tests run jobs in-process (fast, deterministic) unless a test starts a real arq worker."""

from __future__ import annotations

import pytest

FAST_CONFIG = """
categories:
  - {code: service_day, name: "服务时间调整", requires_review: true}
  - {code: business, name: "业务通知", requires_review: false}
org_template:
  template_id: "TPL_ORG"
  url: "https://example.org/notices/{id}"
  fields: {title: "thing1", category: "thing2", time: "time3"}
public_template:
  template_id: "TPL_PUBLIC"
  page: "pages/inbox/index?id={id}"
  fields: {title: "thing1", time: "time2", summary: "thing3"}
invitation_ttl_hours: 72
delivery:
  rate_per_second: %(rate)s
  burst: %(burst)s
  claim_size: 8
  senders: 3
  batch_size: 7
  lease_seconds: 5
  max_attempts: 3
  retry_base_seconds: 0.05
  retry_max_seconds: 0.2
"""


def write_config(home, *, rate: float = 2000, burst: int = 200) -> None:
    (home / "notices.yaml").write_text(FAST_CONFIG % {"rate": rate, "burst": burst}, encoding="utf-8")


@pytest.fixture
def settings(settings):
    write_config(settings.home)
    return settings.model_copy(update={"jobs_backend": "inline"})
