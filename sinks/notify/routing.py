"""Which channels get an alert, when (quiet hours), and which escalations to arm. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from schemas.alerts import SEVERITY_RANK, Alert
from sinks.notify.config import Escalation, NotifyConfig, QuietHours, Route


@dataclass(frozen=True)
class Target:
    channel: str
    route: str
    not_before: datetime | None = None  # deferred by quiet hours
    suppressed: bool = False  # dropped by quiet hours (recorded, not sent)


@dataclass
class Decision:
    targets: list[Target] = field(default_factory=list)
    escalations: list[tuple[str, Escalation]] = field(default_factory=list)  # (route name, escalation)


def quiet_until(quiet: QuietHours, now: datetime) -> datetime | None:
    """End of the quiet period containing ``now`` (aware datetime), or None when not quiet."""
    tz = ZoneInfo(quiet.timezone)
    local = now.astimezone(tz)
    start, end = quiet.start, quiet.end
    if start == end:
        return None
    t = local.time().replace(tzinfo=None)
    today_end = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if start < end:  # e.g. 12:00–14:00
        return today_end if start <= t < end else None
    # wraps midnight, e.g. 23:00–08:00
    if t >= start:
        return today_end + timedelta(days=1)
    if t < end:
        return today_end
    return None


def route_matches(route: Route, alert: Alert) -> bool:
    if route.brands and alert.brand not in route.brands:
        return False
    if route.severities and alert.severity not in route.severities:
        return False
    if route.min_severity and SEVERITY_RANK[alert.severity] < SEVERITY_RANK[route.min_severity]:
        return False
    if route.statuses and alert.status not in route.statuses:
        return False
    return True


class Router:
    def __init__(self, config: NotifyConfig) -> None:
        self.config = config
        self.routes = config.effective_routes()
        self.enabled = {c.name for c in config.all_channels()}

    def decide(self, alert: Alert, now: datetime) -> Decision:
        decision = Decision()
        best: dict[str, Target] = {}
        for i, route in enumerate(self.routes):
            if not route_matches(route, alert):
                continue
            name = route.name or f"route-{i + 1}"
            quiet = self.config.quiet_hours if route.quiet_hours is None else (route.quiet_hours or None)
            until = None
            if quiet and SEVERITY_RANK[alert.severity] < SEVERITY_RANK[quiet.pass_severity]:
                until = quiet_until(quiet, now)
            for channel in route.channels:
                if channel not in self.enabled:
                    continue
                target = Target(
                    channel,
                    name,
                    not_before=until if quiet and quiet.action == "defer" else None,
                    suppressed=bool(until and quiet and quiet.action == "drop"),
                )
                if channel not in best or _sooner(target, best[channel]):
                    best[channel] = target
            esc = route.escalate
            if esc and alert.status != "resolved" and SEVERITY_RANK[alert.severity] >= SEVERITY_RANK[esc.min_severity]:
                decision.escalations.append((name, esc))
        decision.targets = list(best.values())
        return decision


def _sooner(a: Target, b: Target) -> bool:
    """Is ``a`` a better plan than ``b`` for the same channel (send now > defer > drop)?"""

    def rank(t: Target) -> tuple[int, float]:
        if t.suppressed:
            return (2, 0.0)
        if t.not_before is not None:
            return (1, t.not_before.timestamp())
        return (0, 0.0)

    return rank(a) < rank(b)
