"""Prometheus metrics of one service instance (its own registry, so that two apps in one process never mix):
requests and errors by endpoint and status, request latency, and the encoder's batches (texts per call, jobs
per call, seconds per call)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

#: Label values for paths outside the API (the playground's files, unknown paths), so that a scan of random
#: URLs cannot grow the label set without bound.
OTHER = "other"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    """The service's counters and histograms, exposed by :meth:`render` in Prometheus' text format."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, endpoints: tuple[str, ...]) -> None:
        self.endpoints = frozenset(endpoints)
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("spladekit_requests", "HTTP requests answered, by endpoint and status code.",
                                ["endpoint", "status"], registry=r)
        self.errors = Counter("spladekit_errors", "Requests answered with a 4xx or 5xx status, by endpoint and "
                              "reason class (client, auth, engine, server).", ["endpoint", "kind"], registry=r)
        self.latency = Histogram("spladekit_request_seconds", "Time to answer a request, by endpoint.",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("spladekit_requests_in_flight", "Requests being answered now.", registry=r)
        self.batch_texts = Histogram("spladekit_encoder_batch_texts", "Texts per encoder call, by kind.", ["kind"],
                                     buckets=BATCH_BUCKETS, registry=r)
        self.batch_jobs = Histogram("spladekit_encoder_batch_requests", "Requests sharing one encoder call.",
                                    ["kind"], buckets=BATCH_BUCKETS, registry=r)
        self.batch_seconds = Histogram("spladekit_encoder_batch_seconds", "Time of one encoder call.", ["kind"],
                                       buckets=LATENCY_BUCKETS, registry=r)

    def endpoint(self, path: str) -> str:
        return path if path in self.endpoints else OTHER

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)
        if status >= 400:
            kind = "auth" if status in (401, 403) else "engine" if status in (502, 503, 504) else \
                "server" if status >= 500 else "client"
            self.errors.labels(endpoint, kind).inc()

    def on_batch(self, kind: str, texts: int, jobs: int, seconds: float) -> None:
        """The :class:`spladekit.serve.batcher.MicroBatcher` hook."""
        self.batch_texts.labels(kind).observe(texts)
        self.batch_jobs.labels(kind).observe(jobs)
        self.batch_seconds.labels(kind).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
