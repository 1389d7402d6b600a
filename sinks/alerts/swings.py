"""Swing detection: each entity against its own recent past.

For every tracked city or brand we compare the *current window* (default: the last 48 h) with
a *baseline* (the 28 days before the window):

- sentiment: a two-sample z-test on the mean article-level tone toward the entity (one per
  article, ``sinoscope.core.tone``),
  ``z = (mean_now - mean_base) / sqrt(var * (1/n_now + 1/n_base))`` with the baseline's variance
  (floored, so a baseline of near-identical scores cannot make a tiny shift look huge). A swing
  also needs a minimum absolute shift (default 0.3 on the [-1, 1] scale): significance alone on
  big volumes would alert on changes nobody cares about.
- volume: the window's mention count against the baseline's daily counts (zero days included),
  ``z = (n_now - expected) / sqrt(expected + var_daily * days)`` (Poisson plus the baseline's own
  spread), and at least ``volume_ratio`` times the expected count.

Guards: at least ``min_mentions`` mentions from ``min_stories`` distinct stories in the window
(one article, or one wire story syndicated ten times, cannot fire), and a baseline of
``min_baseline_mentions`` mentions over ``min_baseline_days`` distinct days ("weeks of steady
coverage"). One entity yields at most one alert per pass: a drop that comes with a volume spike
is one ``sentiment_drop`` alert whose ``signals`` name both.

Cooldown and re-arming live in the alert log: a fired (entity, kind) stays quiet while the
condition persists and for ``cooldown_h`` after it fired, so one swing alerts once.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

# the settings model lives with the settings, so that the core needs no stage package
from sinoscope.core.settings import Thresholds

KINDS = ("sentiment_drop", "sentiment_rise", "volume_spike")


@dataclass
class Window:
    """What the store says about one entity's mentions in one period."""

    mentions: int = 0
    stories: int = 0
    sentiment_sum: float = 0.0
    sentiment_sumsq: float = 0.0
    scored: int = 0
    days: dict[str, int] = field(default_factory=dict)  # 'YYYY-MM-DD' -> mentions

    @property
    def mean(self) -> float | None:
        return self.sentiment_sum / self.scored if self.scored else None

    @property
    def var(self) -> float:
        if self.scored < 2:
            return 0.0
        m = self.sentiment_sum / self.scored
        return max(0.0, (self.sentiment_sumsq - self.scored * m * m) / (self.scored - 1))


@dataclass
class EntityStats:
    entity_id: str
    entity_type: str
    current: Window
    baseline: Window


@dataclass
class Signal:
    kind: str
    z: float
    baseline: float
    current: float


@dataclass
class Swing:
    entity_id: str
    entity_type: str
    kind: str  # the primary signal
    signals: list[Signal]
    window_start: datetime
    window_end: datetime
    baseline_start: datetime
    current: Window
    baseline: Window

    def summary(self) -> dict:
        days = (self.window_end - self.window_start).total_seconds() / 86400
        base_days = (self.window_start - self.baseline_start).total_seconds() / 86400
        r = lambda v: round(v, 4) if v is not None else None  # noqa: E731
        return {
            "window": {
                "start": self.window_start.isoformat(),
                "end": self.window_end.isoformat(),
                "hours": round(days * 24, 2),
            },
            "baseline": {
                "start": self.baseline_start.isoformat(),
                "end": self.window_start.isoformat(),
                "mentions": self.baseline.mentions,
                "sentiment_mean": r(self.baseline.mean),
                "mentions_per_day": r(self.baseline.mentions / base_days if base_days else None),
                "active_days": len(self.baseline.days),
            },
            "current": {
                "mentions": self.current.mentions,
                "stories": self.current.stories,
                "sentiment_mean": r(self.current.mean),
                "mentions_per_day": r(self.current.mentions / days if days else None),
            },
            "volume": self.current.mentions,
            "signals": [
                {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(s).items()} for s in self.signals
            ],
        }


def periods(now: datetime, t: Thresholds) -> tuple[datetime, datetime, datetime]:
    """(baseline start, window start, window end)."""
    start = now - timedelta(hours=t.window_h)
    return start - timedelta(days=t.baseline_days), start, now


def evaluate(stats: EntityStats, t: Thresholds) -> list[Signal]:
    """Every trigger that holds for one entity (empty: nothing to report)."""
    cur, base = stats.current, stats.baseline
    if cur.mentions < t.min_mentions or cur.stories < t.min_stories:
        return []
    if base.mentions < t.min_baseline_mentions or len(base.days) < t.min_baseline_days:
        return []
    signals: list[Signal] = []
    if cur.mean is not None and base.mean is not None and cur.scored >= t.min_mentions:
        sd = max(math.sqrt(base.var), t.sentiment_sd_floor)
        z = (cur.mean - base.mean) / (sd * math.sqrt(1 / cur.scored + 1 / base.scored))
        shift = cur.mean - base.mean
        if abs(z) >= t.sentiment_z and abs(shift) >= t.sentiment_min_shift:
            signals.append(Signal("sentiment_drop" if shift < 0 else "sentiment_rise", z, base.mean, cur.mean))
    base_days = max(t.baseline_days, 1e-9)
    daily = [base.days.get(d, 0) for d in base.days] + [0] * max(0, int(round(base_days)) - len(base.days))
    mu = sum(daily) / len(daily) if daily else 0.0
    var = sum((x - mu) ** 2 for x in daily) / (len(daily) - 1) if len(daily) > 1 else 0.0
    wdays = t.window_h / 24
    expected = mu * wdays
    z = (cur.mentions - expected) / math.sqrt(max(expected, 1.0) + var * wdays)
    if z >= t.volume_z and cur.mentions >= t.volume_ratio * max(expected, 1e-9):
        signals.append(Signal("volume_spike", z, round(expected, 3), float(cur.mentions)))
    return signals


def detect(rows: list[EntityStats], thresholds_for, now: datetime) -> list[Swing]:
    """Swings for every entity whose signals hold (cooldown is the caller's, see the log)."""
    out = []
    for st in rows:
        t = thresholds_for(st.entity_id, st.entity_type)
        signals = evaluate(st, t)
        if not signals:
            continue
        signals.sort(key=lambda s: KINDS.index(s.kind))  # sentiment first: it is what users act on
        b0, w0, w1 = periods(now, t)
        out.append(Swing(st.entity_id, st.entity_type, signals[0].kind, signals, w0, w1, b0, st.current, st.baseline))
    return out


def utcnow() -> datetime:
    return datetime.now(UTC)
