"""The metrics of several gateway workers as one gateway's: each worker's Prometheus text, parsed, and every sample
summed per name and label set — counters, histograms' buckets, sums and counts, and gauges (spool depth, batches in
flight; ``sc_gateway_broker_connected`` becomes the number of workers connected).

Why scraping and summing rather than prometheus_client's multiprocess mode: that mode must be switched on before
anything imports prometheus_client (an environment variable, in every process), replaces every metric by
memory-mapped files that outlive their process and must be cleaned up when a worker dies, and needs a merge mode
chosen per gauge; the workers here stay ordinary processes that serve their own /metrics, and the parent reads them
over a private socket.

A worker restarted after a crash counts from zero again. So that a summed counter never goes back (Prometheus
would take the dip for a reset and count everything again), the parent keeps what a worker had counted when it
was last read and adds it to what its next run counts: :class:`WorkerCounts`. Text in, text out: no I/O here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

Labels = tuple[tuple[str, str], ...]
SampleKey = tuple[str, Labels]
"""A sample's name (``sc_gateway_messages_stored_total``) and its labels, sorted."""

CUMULATIVE = frozenset({"counter", "histogram", "summary"})
"""Families whose samples only grow while a process runs: carried over a worker's restart."""


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    documentation: str
    type: str


@dataclass
class Exposition:
    """One scrape: its families (in the order served) and each sample's value."""

    families: dict[str, Family] = field(default_factory=dict)
    family_of: dict[SampleKey, str] = field(default_factory=dict)
    values: dict[SampleKey, float] = field(default_factory=dict)

    def cumulative(self) -> dict[SampleKey, float]:
        """The samples of counters, histograms and summaries."""
        return {key: value for key, value in self.values.items()
                if self.families[self.family_of[key]].type in CUMULATIVE}

    def value(self, name: str, **labels: str) -> float:
        return self.values.get((name, _labels(labels)), 0.0)

    def by_label(self, name: str, label: str) -> dict[str, float]:
        """Each value of ``label`` of the samples named ``name``, summed over their other labels (as
        :meth:`gateway.metrics.GatewayMetrics.by_label`)."""
        found: dict[str, float] = {}
        for (sample, labels), value in self.values.items():
            if sample != name:
                continue
            for key, labelled in labels:
                if key == label:
                    found[labelled] = found.get(labelled, 0.0) + value
        return found


def parse(text: str) -> Exposition:
    """A worker's /metrics text. ``*_created`` samples (when a series began) are left out: a sum of them means
    nothing."""
    exposition = Exposition()
    for metric in text_string_to_metric_families(text):
        exposition.families[metric.name] = Family(metric.name, metric.documentation, metric.type)
        for sample in metric.samples:
            if sample.name.endswith("_created"):
                continue
            key = (sample.name, _labels(sample.labels))
            exposition.family_of[key] = metric.name
            exposition.values[key] = exposition.values.get(key, 0.0) + sample.value
    return exposition


@dataclass
class WorkerCounts:
    """What one worker slot adds to the sum: its current run's samples, plus the cumulative samples its earlier
    runs had reached when they were last read."""

    carried: dict[SampleKey, float] = field(default_factory=dict)
    current: Exposition = field(default_factory=Exposition)
    families: dict[str, Family] = field(default_factory=dict)
    family_of: dict[SampleKey, str] = field(default_factory=dict)

    def read(self, exposition: Exposition) -> None:
        """The latest scrape of the worker's current run."""
        self.current = exposition
        self.families.update(exposition.families)
        self.family_of.update(exposition.family_of)

    def restarted(self) -> None:
        """The worker's process ended: keep what it had counted, forget its gauges."""
        for key, value in self.current.cumulative().items():
            self.carried[key] = self.carried.get(key, 0.0) + value
        self.current = Exposition()

    def total(self) -> Exposition:
        values = dict(self.carried)
        for key, value in self.current.values.items():
            values[key] = values.get(key, 0.0) + value
        return Exposition(dict(self.families), dict(self.family_of), values)


def summed(expositions: Iterable[Exposition]) -> Exposition:
    """Every sample summed over ``expositions`` per name and label set; families in first-seen order."""
    total = Exposition()
    for exposition in expositions:
        for name, family in exposition.families.items():
            total.families.setdefault(name, family)
        for key, value in exposition.values.items():
            total.family_of.setdefault(key, exposition.family_of[key])
            total.values[key] = total.values.get(key, 0.0) + value
    return total


def render(exposition: Exposition) -> bytes:
    """Prometheus text of ``exposition``, as prometheus_client writes it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Replay(exposition))
    return generate_latest(registry)


class _Replay(Collector):
    def __init__(self, exposition: Exposition) -> None:
        self._exposition = exposition

    def collect(self) -> Iterator[Metric]:
        metrics: dict[str, Metric] = {}
        for name, family in self._exposition.families.items():
            metrics[name] = Metric(name, family.documentation, family.type)
        for key, value in self._exposition.values.items():
            sample, labels = key
            metrics[self._exposition.family_of[key]].add_sample(sample, dict(labels), value)
        yield from (metric for metric in metrics.values() if metric.samples)


def _labels(labels: Mapping[str, str]) -> Labels:
    return tuple(sorted(labels.items()))
