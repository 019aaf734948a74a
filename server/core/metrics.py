"""Prometheus metrics (per worker process)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUESTS = Counter("dengji_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "dengji_http_request_seconds", "HTTP request latency", ["route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
JOBS = Counter("dengji_jobs_total", "Background jobs run", ["job", "outcome"])
WECHAT_CALLS = Counter("dengji_wechat_calls_total", "Outbound WeChat API calls", ["api", "outcome"])
WECHAT_UNREACHABLE = Counter("dengji_wechat_unreachable_total",
                             "Messages WeChat would not deliver now (reply window closed, not a follower)",
                             ["kind", "errcode"])


_children: dict[tuple, tuple] = {}


def observe(method: str, route: str, status: int, seconds: float) -> None:
    """Count a request and its latency; the labelled children are cached (labels() locks and validates)."""
    key = (method, route, status)
    pair = _children.get(key)
    if pair is None:
        pair = _children[key] = (REQUESTS.labels(method, route, status), LATENCY.labels(route))
    pair[0].inc()
    pair[1].observe(seconds)


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
