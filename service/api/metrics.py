"""Prometheus metrics: request count and latency per route template, method and status, and the
time each request spent in each stage of answering (``indexer.retrieval.timing``), which every response that
ran any also reports in a ``Server-Timing`` header (browsers' developer tools and the latency
benchmark read it).

Each app owns its ``CollectorRegistry`` so several apps (tests) never clash on metric names.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from indexer.retrieval.timing import recording

# Requests that match no route share one label, so random paths cannot blow up cardinality.
UNMATCHED = "<unmatched>"

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        labels = ("method", "route", "status")
        self.requests = Counter(
            "zhiwen_http_requests",
            "HTTP requests handled, by route template and status.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "zhiwen_http_request_duration_seconds",
            "HTTP request latency in seconds, by route template and status.",
            labels,
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.stages = Histogram(
            "zhiwen_stage_duration_seconds",
            "Time a request spent in one stage of answering (encode, keyword, dense, sentences, "
            "fusion, rerank, curated, compose), in seconds.",
            ("stage",),
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.index_ready = Gauge(
            "zhiwen_index_ready",
            "1 when the index is loaded and queries are served.",
            registry=self.registry,
        )
        self.index_documents = Gauge(
            "zhiwen_index_documents", "Reports in the loaded index.", registry=self.registry
        )
        self.index_chunks = Gauge(
            "zhiwen_index_chunks", "Passages in the loaded index.", registry=self.registry
        )

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/documents/{doc_id}``), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class MetricsMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware) that times every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # if the app raises before answering, the error handler sends a 500

        with recording() as stages:

            async def send_wrapper(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    if stages:  # a streamed body's later stages are not in it: headers go first
                        timing = server_timing(stages, time.perf_counter() - start)
                        message["headers"] = [*message.get("headers", []), (b"server-timing", timing)]
                await send(message)

            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                labels = (scope.get("method", ""), route_template(scope), str(status))
                self.metrics.requests.labels(*labels).inc()
                self.metrics.latency.labels(*labels).observe(time.perf_counter() - start)
                for name, seconds in stages.items():
                    self.metrics.stages.labels(name).observe(seconds)


def server_timing(stages: dict[str, float], app_seconds: float) -> bytes:
    """A ``Server-Timing`` value: each stage and ``app`` (the whole time in the server until the
    response started), in milliseconds."""
    parts = [f"{name};dur={seconds * 1000:.2f}" for name, seconds in stages.items()]
    parts.append(f"app;dur={app_seconds * 1000:.2f}")
    return ", ".join(parts).encode("ascii")
