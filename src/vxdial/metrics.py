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
from vxdial.telephony.sipdriver import SipDriver

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServicesCollector(Collector):
    def __init__(self, services: Services) -> None:
        self._services = services

    def collect(self) -> Iterator[Metric]:
        s = self._services
        yield _counter(
            "vxdial_intake_calls_queued",
            "Calls accepted by queuecall, queuecalls and the API",
            s.intake.lines_queued,
        )
        yield _counter(
            "vxdial_intake_lines_rejected",
            "phone_list lines rejected (bad number, bad CSV, ...)",
            s.intake.lines_rejected,
        )
        yield _counter(
            "vxdial_login_failures",
            "Requests refused for a wrong login or PIN",
            s.authenticator.failures,
        )
        yield _counter(
            "vxdial_url_checks", "GET checks sent to start_url / result_url", s.probe.requests_sent
        )
        uploads = GaugeMetricFamily(
            "vxdial_uploads_in_progress",
            "phone_list uploads holding a slot now: a sender's, or one read before its login",
            labels=["slot"],
        )
        of_senders, unauthenticated = s.intake.upload_slots.in_use()
        uploads.add_metric(["sender"], of_senders)
        uploads.add_metric(["unauthenticated"], unauthenticated)
        yield uploads
        answers = CounterMetricFamily(
            "vxdial_plum_answers", "Answers of the Plum web services", labels=["endpoint", "status"]
        )
        for (endpoint, status), count in sorted(s.counters.plum_answers.items()):
            answers.add_metric([endpoint, status], count)
        yield answers
        if s.dialer is not None:
            yield _counter(
                "vxdial_dialer_attempts_started",
                "Call attempts this process started",
                s.dialer.attempts_started,
            )
            yield _counter(
                "vxdial_dialer_calls_answered",
                "Attempts answered in this process",
                s.dialer.calls_answered,
            )
            ended = CounterMetricFamily(
                "vxdial_dialer_attempts_ended",
                "Call attempts this process ended, by outcome (answer, busy, noanswer,"
                " rejected, unreachable)",
                labels=["outcome"],
            )
            for outcome, count in sorted(s.dialer.attempts_ended_by_outcome.items()):
                ended.add_metric([outcome], count)
            yield ended
            up = GaugeMetricFamily("vxdial_dialer_calls_up", "Calls this process has up now")
            up.add_metric([], s.dialer.calls_up)
            yield up
            driver = s.dialer.driver
            if isinstance(driver, SipDriver) and driver.trunk_up is not None:
                trunk = GaugeMetricFamily(
                    "vxdial_sip_trunk_up",
                    "1 if the trunk answered our last OPTIONS, 0 if it did not",
                    labels=["trunk"],
                )
                trunk.add_metric([driver.settings.trunk], 1 if driver.trunk_up else 0)
                yield trunk
        if s.deliverer is not None:
            yield _counter(
                "vxdial_results_delivered", "Results accepted by result_url", s.deliverer.delivered
            )
            yield _counter(
                "vxdial_result_delivery_failures",
                "result_url posts that were not accepted",
                s.deliverer.failed_attempts,
            )
        info = GaugeMetricFamily("vxdial_info", "This process", labels=["database"])
        info.add_metric(["sqlite" if s.store.is_sqlite else "postgresql"], 1)
        yield info


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation)
    family.add_metric([], value)
    return family


def registry_for(services: Services) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(ServicesCollector(services))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
