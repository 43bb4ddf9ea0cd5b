"""The crisis workflow (危机确认与控制) stored in the alert document's ``workflow`` object:
``{state: new|acknowledged|assigned|resolved, assignee, by, at, history: [{action, by, at, note, assignee}]}``.

Only ``workflow`` is ever written here (partial update with optimistic concurrency), so the Alert fields the
ES sink maintains are never overwritten.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.errors import LingtingError

ACTION_STATE = {"acknowledge": "acknowledged", "assign": "assigned", "resolve": "resolved"}
STATE_RANK = {"new": 0, "acknowledged": 1, "assigned": 2, "resolved": 3}
#: Once in one of these states nobody needs to be woken up any more: escalation stops.
HANDLED = frozenset({"acknowledged", "assigned", "resolved"})


class AlertNotFound(LingtingError):
    pass


class WorkflowError(LingtingError):
    pass


async def get_alert_doc(es, alerts_alias: str, alert_id: str) -> dict[str, Any] | None:
    """The alert document (``_source``, ``_index``, ``_seq_no``, ``_primary_term``), or None."""
    from elasticsearch import NotFoundError

    try:
        resp = await es.get(index=alerts_alias, id=alert_id)
    except NotFoundError:
        return None
    return dict(resp)


def is_handled(source: dict[str, Any]) -> bool:
    """Acknowledged, assigned or resolved by a person, or resolved by the detector."""
    state = (source.get("workflow") or {}).get("state", "new")
    return state in HANDLED or source.get("status") == "resolved"


def next_workflow(
    current: dict[str, Any] | None,
    action: str,
    by: str,
    *,
    at: datetime,
    assignee: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """The workflow after ``action``. Acknowledging never moves a crisis backwards (assigned/resolved stay)."""
    if action not in ACTION_STATE:
        raise WorkflowError(f"unknown action {action!r} (acknowledge, assign, resolve)")
    if not by or not by.strip():
        raise WorkflowError("say who you are: 'by' is required")
    if action == "assign" and not (assignee and assignee.strip()):
        raise WorkflowError("assign needs an 'assignee'")
    wf = dict(current or {})
    state = wf.get("state", "new")
    new_state = ACTION_STATE[action]
    if action == "acknowledge" and STATE_RANK.get(state, 0) > STATE_RANK["acknowledged"]:
        new_state = state
    entry = {"action": action, "by": by.strip(), "at": at.isoformat(), "note": (note or "").strip() or None}
    if action == "assign":
        entry["assignee"] = assignee.strip()  # type: ignore[union-attr]
        wf["assignee"] = assignee.strip()  # type: ignore[union-attr]
    wf.update(state=new_state, by=by.strip(), at=at.isoformat())
    wf["history"] = [*(wf.get("history") or []), entry]
    wf.setdefault("assignee", None)
    return wf


async def apply_action(
    es,
    alerts_alias: str,
    alert_id: str,
    action: str,
    by: str,
    *,
    assignee: str | None = None,
    note: str | None = None,
    at: datetime | None = None,
    attempts: int = 5,
) -> dict[str, Any]:
    """Record an action on an alert; returns the new workflow. Raises AlertNotFound / WorkflowError."""
    from elasticsearch import ConflictError

    at = at or datetime.now(UTC)
    for _ in range(attempts):
        doc = await get_alert_doc(es, alerts_alias, alert_id)
        if doc is None:
            raise AlertNotFound(f"no alert {alert_id!r} in {alerts_alias}")
        wf = next_workflow(doc["_source"].get("workflow"), action, by, at=at, assignee=assignee, note=note)
        try:
            await es.update(
                index=doc["_index"],
                id=alert_id,
                doc={"workflow": wf},
                if_seq_no=doc["_seq_no"],
                if_primary_term=doc["_primary_term"],
                refresh=True,
            )
            return wf
        except ConflictError:  # the ES sink or another click updated it meanwhile: read again
            continue
    raise WorkflowError(f"alert {alert_id!r} kept changing while recording {action}; try again")
