"""One alert pass: detect swings in the store, record the new ones (with their cooldowns and
queued deliveries) in the alert log, then deliver everything pending. Detection reads the
store the settings name; the log lives in the data directory beside it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sinoscope.core.redact import redact

from . import swings
from .log import AlertLog
from .webhook import DeliveryError, Sender, Target

log = logging.getLogger("sinoscope.alerts")


@dataclass
class PassResult:
    evaluated: int = 0
    fired: list[dict] = field(default_factory=list)
    suppressed: list[tuple[str, str]] = field(default_factory=list)  # (entity, why)
    delivered: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (alert id, target, error)
    gave_up: int = 0

    def as_dict(self) -> dict:
        return {
            "evaluated": self.evaluated,
            "fired": [{k: a[k] for k in ("id", "entity_id", "name", "kind")} for a in self.fired],
            "suppressed": self.suppressed,
            "delivered": self.delivered,
            "failed": [{"alert_id": a, "target": t, "error": e} for a, t, e in self.failed],
            "gave_up": self.gave_up,
        }


def alert_id(entity_id: str, kind: str, window_end: datetime) -> str:
    """Stable per alert: the same swing detected twice in one hour gets the same id."""
    key = f"{entity_id}|{kind}|{window_end.astimezone(UTC):%Y-%m-%dT%H}"
    return "alert-" + hashlib.sha256(key.encode()).hexdigest()[:20]


class AlertEngine:
    def __init__(
        self,
        settings,
        alert_log: AlertLog,
        sender: Sender,
        names: dict[str, str],
        stats: Callable[..., list[swings.EntityStats]],  # (now, thresholds, entity ids or None)
        stories: Callable[[str, datetime, datetime, bool], list[dict]],
        on_fired: Callable[[dict], None] | None = None,
    ) -> None:
        self.s = settings.alerts
        self.log, self.sender, self.names = alert_log, sender, names
        self.stats, self.stories = stats, stories
        self.on_fired = on_fired

    def thresholds(self, entity_id: str, entity_type: str) -> swings.Thresholds:
        t = self.s.thresholds
        for key in (entity_type, entity_id):  # the more specific wins
            if key in self.s.overrides:
                t = t.model_copy(update=self.s.overrides[key])
        return t

    def detect(self, now: datetime, targets: list[Target], entity_ids: set[str] | None = None) -> PassResult:
        """Swings of every entity in the window, or only of ``entity_ids`` (a streaming pass after a
        sink batch: the entities it touched)."""
        res = PassResult()
        # one store query per distinct (window, baseline) the settings use; each entity keeps
        # the figures computed with its own thresholds
        ts = [self.s.thresholds, *(self.s.thresholds.model_copy(update=o) for o in self.s.overrides.values())]
        rows = []
        for w, b in sorted({(t.window_h, t.baseline_days) for t in ts}):
            probe = self.s.thresholds.model_copy(update={"window_h": w, "baseline_days": b})
            for r in self.stats(now, probe, sorted(entity_ids) if entity_ids is not None else None):
                mine = self.thresholds(r.entity_id, r.entity_type)
                if (mine.window_h, mine.baseline_days) == (w, b):
                    rows.append(r)
        res.evaluated = len(rows)
        found = swings.detect(rows, self.thresholds, now)
        holding: dict[str, set[str]] = {sw.entity_id: {s.kind for s in sw.signals} for sw in found}
        self.log.rearm_all_except(holding, among={r.entity_id for r in rows} if entity_ids is not None else None)
        for sw in found:
            t = self.thresholds(sw.entity_id, sw.entity_type)
            kinds = [s.kind for s in sw.signals if self.log.may_fire(sw.entity_id, s.kind, now, t.cooldown_h)]
            if not kinds:
                res.suppressed.append((sw.entity_id, f"{sw.kind}: cooldown or swing already alerted"))
                continue
            alert = self._alert(sw, kinds, now)
            if self.log.record(alert, kinds, [(x.url, x.format) for x in targets], now):
                res.fired.append(alert)
                log.warning("alert %s: %s %s", alert["id"], alert["name"], alert["kind"])
                if self.on_fired:
                    self.on_fired(alert)
        return res

    def _alert(self, sw: swings.Swing, kinds: list[str], now: datetime) -> dict:
        kind = kinds[0]
        negative = kind == "sentiment_drop" or (kind == "volume_spike" and (sw.current.mean or 0) < 0)
        summary = sw.summary()
        summary["signals"] = [s for s in summary["signals"] if s["kind"] in kinds]
        return {
            "id": alert_id(sw.entity_id, kind, sw.window_end),
            "entity_id": sw.entity_id,
            "name": self.names.get(sw.entity_id, sw.entity_id),
            "type": sw.entity_type,
            "kind": kind,
            "direction": {"sentiment_drop": "down", "sentiment_rise": "up"}.get(kind, "volume"),
            "fired_at": now.astimezone(UTC).isoformat(),
            **summary,
            "stories": self.stories(sw.entity_id, sw.window_start, sw.window_end, negative),
        }

    def deliver(self, now: datetime) -> PassResult:
        res = PassResult()
        for d in self.log.pending(now):
            target = Target(d["target"], d["format"])
            try:
                used = self.sender.send(target, d["body"])
            except DeliveryError as exc:
                used = getattr(exc, "attempts", 1)
                attempts = d["attempts"] + used
                age = now - datetime.fromisoformat(d["fired_at"])
                give_up = attempts >= self.s.max_attempts or age > timedelta(hours=self.s.give_up_after_h)
                retry_at = (
                    None
                    if give_up
                    else now
                    + timedelta(
                        seconds=min(
                            self.s.retry_base_s * 2 ** max(0, attempts // max(1, self.s.attempts_per_pass) - 1), 3600
                        )
                    )
                )
                self.log.failed(d["alert_id"], d["target"], used, str(exc), now, retry_at)
                res.failed.append((d["alert_id"], redact(d["target"]), str(exc)))
                if give_up:
                    res.gave_up += 1
                    log.error(
                        "alert %s to %s: gave up after %d attempts: %s (see `sinoscope alerts list`)",
                        d["alert_id"],
                        redact(d["target"]),
                        attempts,
                        exc,
                    )
                continue
            self.log.delivered(d["alert_id"], d["target"], used, now)
            res.delivered += 1
        return res

    def run(self, now: datetime, targets: list[Target], entity_ids: set[str] | None = None) -> PassResult:
        res = self.detect(now, targets, entity_ids)
        out = self.deliver(now)
        res.delivered, res.failed, res.gave_up = out.delivered, out.failed, out.gave_up
        return res
