"""Prometheus metrics, read from the services' own counters when ``/metrics`` is scraped.

The services keep plain integers (no prometheus import in the core); this collector
turns them into metric families, so each process exposes its own figures.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vxdial.services import Services

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServicesCollector(Collector):
    def __init__(self, services: Services) -> None:
        self._services = services

    def collect(self) -> Iterator[Metric]:
        s = self._services
        queued = CounterMetricFamily(
            "vxdial_intake_calls_queued", "Calls accepted by queuecall, queuecalls and the API"
        )
        queued.add_metric([], s.intake.lines_queued)
        yield queued
        rejected = CounterMetricFamily(
            "vxdial_intake_lines_rejected", "phone_list lines rejected (bad number, bad CSV, ...)"
        )
        rejected.add_metric([], s.intake.lines_rejected)
        yield rejected
        failures = CounterMetricFamily(
            "vxdial_login_failures", "Requests refused for a wrong login or PIN"
        )
        failures.add_metric([], s.authenticator.failures)
        yield failures
        probes = CounterMetricFamily(
            "vxdial_url_checks", "GET checks sent to start_url / result_url"
        )
        probes.add_metric([], s.probe.requests_sent)
        yield probes
        answers = CounterMetricFamily(
            "vxdial_plum_answers", "Answers of the Plum web services", labels=["endpoint", "status"]
        )
        for (endpoint, status), count in sorted(s.counters.plum_answers.items()):
            answers.add_metric([endpoint, status], count)
        yield answers
        if s.dialer is not None:
            started = CounterMetricFamily(
                "vxdial_dialer_attempts_started", "Call attempts this process started"
            )
            started.add_metric([], s.dialer.attempts_started)
            yield started
            answered = CounterMetricFamily(
                "vxdial_dialer_calls_answered", "Attempts answered in this process"
            )
            answered.add_metric([], s.dialer.calls_answered)
            yield answered
            up = GaugeMetricFamily("vxdial_dialer_calls_up", "Calls this process has up now")
            up.add_metric([], s.dialer.calls_up)
            yield up
        if s.deliverer is not None:
            delivered = CounterMetricFamily(
                "vxdial_results_delivered", "Results accepted by result_url"
            )
            delivered.add_metric([], s.deliverer.delivered)
            yield delivered
            failed = CounterMetricFamily(
                "vxdial_result_delivery_failures", "result_url posts that were not accepted"
            )
            failed.add_metric([], s.deliverer.failed_attempts)
            yield failed
        info = GaugeMetricFamily("vxdial_info", "This process", labels=["database"])
        info.add_metric(["sqlite" if s.store.is_sqlite else "postgresql"], 1)
        yield info


def registry_for(services: Services) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(ServicesCollector(services))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
