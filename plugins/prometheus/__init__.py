"""Scrape local Prometheus ``/metrics`` endpoints and forward them as OTLP metrics.

Each interval every target is scraped concurrently, each under
``scrape_timeout`` (a target that hangs costs its timeout, not the
interval). The page is parsed (:mod:`.textparse`: text 0.0.4 and
OpenMetrics) and converted (:mod:`.convert`). Every point carries ``job``
and ``instance`` attributes, as Prometheus adds them. Per target the plugin
also reports ``up`` (1 or 0), ``scrape_duration_seconds`` and
``scrape_samples_scraped``. A failed scrape (refused, timeout, non-200,
HTML instead of metrics, malformed text, too large) is ``up = 0``, one log
line, and the ``scrape_errors`` count; never a plugin failure.
"""

from __future__ import annotations

from dataclasses import dataclass

import trio

from edge_agent import (
    ByteSize,
    Duration,
    Fragment,
    MetricsBuilder,
    PluginContext,
    Scraper,
    __version__,
    setting,
)

from .client import ScrapeError, Target, fetch
from .convert import add_families
from .textparse import ExpositionError, parse

__all__ = ["PrometheusConfig", "PrometheusScraper"]


def _check_targets(value: tuple[str, ...]) -> None:
    if not value:
        raise ValueError("list at least one target URL, e.g. targets = ['http://127.0.0.1:9100/metrics']")
    for url in value:
        Target.parse(url)


def _check_positive(value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")


@dataclass(frozen=True)
class PrometheusConfig:
    targets: tuple[str, ...] = setting(
        (), help="http:// URLs of /metrics endpoints (required)", check=_check_targets
    )
    job: str = setting("", help="the job attribute on every point (default: the plugin instance name)")
    scrape_timeout: Duration = setting(Duration(5.0), help="per-target deadline", check=_check_positive)
    max_response_size: ByteSize = setting(
        ByteSize(8 * 1024 * 1024),
        help="larger pages (after decompression) fail the scrape",
        check=_check_positive,
    )

    def __post_init__(self) -> None:
        _check_targets(self.targets)


class PrometheusScraper(Scraper[PrometheusConfig]):
    """Scrapes Prometheus text / OpenMetrics endpoints into OTLP."""

    name = "prometheus"
    version = "1.0.0"
    description = "scrape Prometheus /metrics endpoints (text 0.0.4, OpenMetrics) into OTLP metrics"
    config_class = PrometheusConfig
    default_interval = 30.0

    def __init__(self, config: PrometheusConfig) -> None:
        super().__init__(config)
        self.targets = [Target.parse(url) for url in config.targets]
        self._failing: set[str] = set()

    async def scrape(self, ctx: PluginContext) -> list[Fragment]:
        builder = ctx.metrics()
        async with trio.open_nursery() as nursery:
            for target in self.targets:
                nursery.start_soon(self._scrape_target, ctx, builder, target)
        return [builder.build()]

    async def _scrape_target(self, ctx: PluginContext, builder: MetricsBuilder, target: Target) -> None:
        extra = {"job": self.config.job or ctx.name, "instance": target.instance}
        started = trio.current_time()
        samples, error = 0, ""
        with trio.move_on_after(float(self.config.scrape_timeout)) as scope:
            try:
                samples = await self._scrape_page(ctx, builder, target, extra)
            except (ScrapeError, ExpositionError) as exc:
                error = str(exc)
        if scope.cancelled_caught:
            error = f"no complete response within scrape_timeout ({float(self.config.scrape_timeout):g}s)"
        self._report(ctx, target, error)
        builder.gauge("up", [(extra, 0 if error else 1)], description="1 if the last scrape succeeded")
        builder.gauge("scrape_duration_seconds", [(extra, trio.current_time() - started)], unit="s")
        builder.gauge("scrape_samples_scraped", [(extra, samples)])

    async def _scrape_page(
        self, ctx: PluginContext, builder: MetricsBuilder, target: Target, extra: dict[str, str]
    ) -> int:
        agent = f"edge-agent/{__version__}"
        page = await fetch(target, max_bytes=int(self.config.max_response_size), user_agent=agent)
        if page.status != 200:
            raise ScrapeError(f"HTTP {page.status} from {target.url}")
        media = page.content_type.split(";", 1)[0].strip().lower()
        if media not in ("text/plain", "application/openmetrics-text", ""):
            raise ScrapeError(f"{target.url} returned {media}, not Prometheus text")
        text = page.body.decode("utf-8", "replace")
        families = parse(text)
        stats = add_families(builder, families, dict(extra))
        ctx.count("points_skipped", stats.skipped)
        return stats.points

    def _report(self, ctx: PluginContext, target: Target, error: str) -> None:
        if error:
            ctx.count("scrape_errors")
            if target.url not in self._failing:  # log state changes, not every failed interval
                self._failing.add(target.url)
                ctx.logger.warning("scrape of %s failed: %s", target.url, error)
        elif target.url in self._failing:
            self._failing.discard(target.url)
            ctx.logger.info("scrape of %s works again", target.url)
