"""Prometheus metrics of the sensor on a local port (``--metrics-port``).

Why a custom collector: the event loop handles up to ~100,000 events/s and must not pay a
lock-taking ``Counter.inc`` per event. It keeps plain counters (``SensorCounters``, the
backend's ``CaptureStats``, a bucket array for rule evaluation time) and this collector turns
them into metric families only when Prometheus scrapes. Reads race with the loop's writes;
a scrape sees values at most one event old, which is what a sampled metric means anyway.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    from yamori.sensor.runner import SensorRunner

__all__ = ["EVAL_BUCKETS", "EvalHistogram", "SensorCollector", "serve_metrics"]

EVAL_BUCKETS = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2, 0.1)
"""Seconds; rule evaluation per event is microseconds, a slow lookup (container) milliseconds."""


class EvalHistogram:
    """Rule evaluation time per event: cumulative buckets filled without locks."""

    __slots__ = ("_bounds_ns", "counts", "sum_ns")

    def __init__(self) -> None:
        self._bounds_ns = [int(b * 1e9) for b in EVAL_BUCKETS]
        self.counts = [0] * (len(EVAL_BUCKETS) + 1)
        self.sum_ns = 0

    def observe_ns(self, ns: int) -> None:
        self.counts[bisect.bisect_left(self._bounds_ns, ns)] += 1
        self.sum_ns += ns

    def buckets(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        total = 0
        for bound, count in zip([*EVAL_BUCKETS, float("inf")], list(self.counts), strict=True):
            total += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), float(total)))
        return out


def _snapshot(counter: Counter[str]) -> dict[str, int]:
    for _ in range(5):  # the loop may add a key while we copy
        try:
            return dict(counter)
        except RuntimeError:
            continue
    return {}


class SensorCollector(Collector):
    """Metric families from a running ``SensorRunner`` (and its backend's stats)."""

    def __init__(self, runner: SensorRunner, extra: Callable[[], dict[str, float]] | None = None) -> None:
        self.runner = runner
        self.extra = extra

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        r = self.runner
        c = r.counters
        events = CounterMetricFamily(
            "yamori_sensor_events", "Events run through the rules, by type", labels=["type"]
        )
        for t, n in sorted(_snapshot(c.events).items()):
            events.add_metric([t], n)
        yield events
        skipped = CounterMetricFamily(
            "yamori_sensor_skipped", "Records used for the process table only, by type", labels=["type"]
        )
        for t, n in sorted(_snapshot(c.skipped).items()):
            skipped.add_metric([t], n)
        yield skipped
        dropped = CounterMetricFamily(
            "yamori_sensor_dropped", "Records dropped in user space (queue full), by type", labels=["type"]
        )
        for t, n in sorted(_snapshot(c.dropped).items()):
            dropped.add_metric([t], n)
        yield dropped
        stats = r.backend.stats
        yield CounterMetricFamily(
            "yamori_sensor_lost", "Events the kernel lost (perf buffer full)", value=stats.lost
        )
        yield CounterMetricFamily(
            "yamori_sensor_kernel_filtered",
            "Opens dropped in the kernel: no loaded rule can match their path (prefilter)",
            value=stats.kernel_filtered,
        )
        yield CounterMetricFamily(
            "yamori_sensor_kernel_coalesced",
            "Container opens not sent: the same thread opened the same path less than 1 s before",
            value=stats.kernel_coalesced,
        )
        yield CounterMetricFamily(
            "yamori_sensor_malformed", "Capture lines that could not be decoded", value=stats.malformed
        )
        yield CounterMetricFamily(
            "yamori_sensor_incomplete", "Multi-line events whose parts never arrived", value=stats.incomplete
        )
        alerts = CounterMetricFamily(
            "yamori_sensor_alerts", "Alerts by rule and priority", labels=["rule", "priority"]
        )
        for (rule, prio), n in sorted(dict(c.alerts_by_rule).items()):
            alerts.add_metric([rule, prio], n)
        yield alerts
        yield CounterMetricFamily(
            "yamori_sensor_engine_errors", "Rule evaluations that raised", value=r.engine.errors
        )
        hist = HistogramMetricFamily(
            "yamori_sensor_rule_eval_seconds", "Time to evaluate the rules for one event"
        )
        hist.add_metric([], r.eval_hist.buckets(), sum_value=r.eval_hist.sum_ns / 1e9)
        yield hist
        yield GaugeMetricFamily("yamori_sensor_processes", "Process table entries", value=len(r.table))
        yield GaugeMetricFamily(
            "yamori_sensor_queue_depth", "Records waiting in the queue", value=r.queue.qsize()
        )
        if r.drift is not None:
            yield CounterMetricFamily(
                "yamori_sensor_drift_detected", "Drifted executables run", value=r.drift.detected
            )
            yield CounterMetricFamily(
                "yamori_sensor_drift_killed",
                "Drifted processes killed (--prevent-drift)",
                value=r.drift.killed,
            )
        if r.recorder is not None:
            rs = r.recorder.stats
            yield GaugeMetricFamily(
                "yamori_sensor_capture_buffered_events", "Events in ring buffers", value=rs.buffered
            )
            yield CounterMetricFamily("yamori_sensor_captures", "Capture files started", value=rs.captures)
            yield CounterMetricFamily(
                "yamori_sensor_capture_dropped_lines",
                "Capture lines dropped (writer behind)",
                value=rs.dropped_lines,
            )
        if self.extra is not None:
            for name, value in self.extra().items():
                yield GaugeMetricFamily(name, name, value=value)


def serve_metrics(runner: SensorRunner, port: int, addr: str = "127.0.0.1") -> CollectorRegistry:
    """Serve the sensor's metrics on ``addr:port`` (a daemon thread); returns the registry."""
    from prometheus_client import start_http_server

    registry = CollectorRegistry()
    registry.register(SensorCollector(runner))
    start_http_server(port, addr=addr, registry=registry)
    return registry
