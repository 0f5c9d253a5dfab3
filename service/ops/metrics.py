"""``/metrics``: the ops status as Prometheus gauges, and the process's own metrics.

The figures are read from the shared state (database and Redis) on every scrape, by
a custom collector, so every API process reports the same ones and nothing needs
Prometheus's multiprocess mode; the process, platform and garbage-collector metrics
are the library's standard collectors and describe the API process that answered.
The library writes the exposition text, label escaping included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    Metric,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily

StatusReader = Callable[[], dict[str, Any]]


def _families() -> dict[str, GaugeMetricFamily]:
    return {
        "comments": GaugeMetricFamily(
            "moderation_comments", "Comments by status.", labels=["status"]
        ),
        "oldest": GaugeMetricFamily(
            "moderation_oldest_pending_age_seconds", "Age of the oldest pending comment."
        ),
        "queues": GaugeMetricFamily(
            "moderation_queue_length", "Messages waiting in a Celery queue.", labels=["queue"]
        ),
        "analyze_waiting": GaugeMetricFamily(
            "moderation_analyze_requests_waiting",
            "comments:analyze requests waiting for a toxicity worker's serving thread.",
        ),
        "analyze_oldest": GaugeMetricFamily(
            "moderation_analyze_oldest_request_age_seconds",
            "Seconds the oldest waiting comments:analyze request has waited (0: none).",
        ),
        "scorers": GaugeMetricFamily(
            "moderation_scorer_ready",
            "Toxicity worker processes by last reported scorer state (1: ready, and "
            "reported recently).",
            labels=["host", "pid", "model", "state"],
        ),
        "scorer_ages": GaugeMetricFamily(
            "moderation_scorer_report_age_seconds",
            "Seconds since a toxicity worker process last reported its scorer state.",
            labels=["host", "pid"],
        ),
        "redis": GaugeMetricFamily(
            "moderation_redis_up", "1 if this scrape could read Redis (queue lengths)."
        ),
    }


class StatusCollector:
    """The ``/statusz`` figures (:func:`service.ops.status.collect`) as gauges, per scrape."""

    def __init__(self, read_status: StatusReader) -> None:
        self._read_status = read_status

    def describe(self) -> Iterator[Metric]:
        # the names, without reading anything: the registry checks them for clashes
        yield from _families().values()

    def collect(self) -> Iterator[Metric]:
        status = self._read_status()
        family = _families()
        for name, count in status["comments"].items():
            family["comments"].add_metric([name], count)
        family["oldest"].add_metric([], status["oldest_pending_age_s"])
        yield family["comments"]
        yield family["oldest"]
        # Redis unreadable: no queue series rather than made-up zeros
        if status["queues"] is not None:
            for queue, length in status["queues"].items():
                family["queues"].add_metric([queue], length)
            yield family["queues"]
            analyze = status["analyze_requests"]
            family["analyze_waiting"].add_metric([], analyze["waiting"])
            family["analyze_oldest"].add_metric([], analyze["oldest_age_s"])
            yield family["analyze_waiting"]
            yield family["analyze_oldest"]
        for s in status["scorers"]:
            labels = [str(s.get(k, "")) for k in ("host", "pid", "model", "state")]
            ready = s.get("state") == "ready" and not s["stale"]
            family["scorers"].add_metric(labels, 1 if ready else 0)
            family["scorer_ages"].add_metric(
                [str(s.get("host", "")), str(s.get("pid", ""))], s["age_s"]
            )
        yield family["scorers"]
        yield family["scorer_ages"]
        family["redis"].add_metric([], 0 if status["queues"] is None else 1)
        yield family["redis"]


def registry(read_status: StatusReader) -> CollectorRegistry:
    """A registry of its own per app (the library's global one would refuse a second app)."""
    metrics = CollectorRegistry()
    metrics.register(StatusCollector(read_status))
    ProcessCollector(registry=metrics)
    PlatformCollector(registry=metrics)
    GCCollector(registry=metrics)
    return metrics
