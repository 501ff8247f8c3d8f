"""How precisely TF Serving's latency histogram can judge a latency objective.

TF Serving records request latency in a histogram with fixed bucket edges
(`Buckets::Exponential(10, 1.8, 33)` in tensorflow_serving/servables/tensorflow/util.cc:
10 us x 1.8^n, n = 0..32, then +Inf), printed by its Prometheus exporter with six
significant digits. `histogram_quantile` only knows how many requests fell into each
bucket and interpolates linearly inside one, so a p99 compared with an objective that sits
inside a bucket is only decided for certain outside that bucket:

- true p99 above the bucket's upper edge: the estimate is above the objective (fires);
- true p99 below the bucket's lower edge: the estimate is below it (stays silent);
- in between: it depends on how requests spread inside the bucket.

An objective on an edge is exact. The alert annotation, the model schema, the plan's
warning and the release analysis all use `precision()` so they state the same figure.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

SCALE_US = 10.0
GROWTH = 1.8
BUCKET_COUNT = 33
SOURCE = ("https://github.com/tensorflow/serving/blob/master/"
          "tensorflow_serving/servables/tensorflow/util.cc")
# An objective further than this (relative) from its nearest edge gets a plan warning.
FAR_FROM_EDGE = 0.10


def _edges_us() -> tuple[float, ...]:
    # Repeated multiplication, as TensorFlow's ExponentialBuckets computes them, then the
    # exporter's six significant digits (what Prometheus stores as `le`).
    out, bound = [], SCALE_US
    for _ in range(BUCKET_COUNT):
        out.append(float(f"{bound:.6g}"))
        bound *= GROWTH
    return tuple(out)


EDGES_US: tuple[float, ...] = _edges_us()


def edges_ms(low_ms: float = 0.0, high_ms: float = math.inf) -> list[float]:
    return [round(e / 1000, 6) for e in EDGES_US if low_ms <= e / 1000 <= high_ms]


@dataclass(frozen=True)
class Precision:
    objective_ms: float
    lower_ms: float  # the bucket edge at or below the objective (0 below the first edge)
    upper_ms: float  # the bucket edge at or above it (inf above the last)

    @property
    def exact(self) -> bool:
        return self.objective_ms in (self.lower_ms, self.upper_ms)

    @property
    def nearest_edge_ms(self) -> float:
        return min((self.lower_ms, self.upper_ms), key=lambda e: abs(e - self.objective_ms))

    @property
    def distance(self) -> float:
        """Relative distance from the objective to its nearest edge (0 = on an edge)."""
        return abs(self.nearest_edge_ms - self.objective_ms) / self.objective_ms

    @property
    def far_from_edge(self) -> bool:
        return self.distance > FAR_FROM_EDGE

    def describe(self) -> str:
        if self.exact:
            return (f"{_ms(self.objective_ms)} ms is a bucket edge of TF Serving's latency histogram: "
                    "the p99 test is exact")
        return (f"TF Serving's latency buckets put {_ms(self.objective_ms)} ms inside "
                f"({_ms(self.lower_ms)} ms, {_ms(self.upper_ms)} ms]: a p99 above {_ms(self.upper_ms)} ms "
                f"is always judged above the objective, one below {_ms(self.lower_ms)} ms always below; "
                "in between the verdict depends on how requests spread inside that bucket")


def _ms(value: float) -> str:
    return f"{value:.4g}"


def precision(objective_ms: float) -> Precision:
    edges = edges_ms()
    lower = max((e for e in edges if e <= objective_ms), default=0.0)
    upper = min((e for e in edges if e >= objective_ms), default=math.inf)
    return Precision(objective_ms=float(objective_ms), lower_ms=lower, upper_ms=upper)


def objective_warning(model: str, objective_ms: int) -> str | None:
    """A plan note when the objective is far from any edge (None when it is close enough)."""
    p = precision(objective_ms)
    if not p.far_from_edge:
        return None
    return (f"{model}: serving.latency_objective_ms {objective_ms} is {p.distance:.0%} from the nearest bucket edge "
            f"of TF Serving's latency histogram; {p.describe()}. For a sharp alert and release gate use a value "
            f"just under an edge, such as {math.floor(p.lower_ms)} or {math.floor(p.upper_ms)} "
            "(docs/observability.md, 'Latency precision')")
