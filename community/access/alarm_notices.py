"""What a raised access alarm says to the people who hear of it: its notification event (kind, severity, words in
Chinese, the key that coalesces repeats at one door). Pure: the caller records it in the outbox."""

from __future__ import annotations

from community.access.alarms import Alarm, AlarmKind
from community.access.directory import Community, Gate, door_label
from community.access.permissions import Door
from notifications.events import NotificationEvent, NotificationKind, Severity

ALARM_WORDS = {
    AlarmKind.FORCED_DOOR: "强行开门", AlarmKind.DOOR_HELD_OPEN: "门长时间未关", AlarmKind.TAMPER: "设备防拆报警",
    AlarmKind.REPEATED_DENIALS: "多次刷卡被拒", AlarmKind.GATE_OFFLINE: "门禁离线",
}
CRITICAL = frozenset({AlarmKind.FORCED_DOOR, AlarmKind.TAMPER})
"""Someone may be breaking in now: these reach a manager through their quiet hours."""


def alarm_event(community: Community, gate: Gate, alarm: Alarm) -> NotificationEvent:
    """The notification of a newly raised ``alarm`` at ``gate`` of ``community``."""
    offline = alarm.kind is AlarmKind.GATE_OFFLINE
    where = gate.name if alarm.door is None else door_label(gate, Door(gate.gate_id, alarm.door))
    words = ALARM_WORDS[alarm.kind]
    return NotificationEvent(
        kind=NotificationKind.GATE_OFFLINE if offline else NotificationKind.GATE_ALARM,
        title=f"{community.name}·{where}：{words}"[:200],
        text=f"{community.name}的{where}发生“{words}”，请尽快到门禁控制台查看并处理。"[:2000],
        occurred_at=alarm.raised_at,
        community_id=community.community_id,
        dedupe_key=f"access:{alarm.kind.value}:{gate.gate_id}:{alarm.door or 0}",
        severity=Severity.CRITICAL if alarm.kind in CRITICAL else Severity.WARNING,
        data={"alarm_id": alarm.alarm_id, "alarm": alarm.kind.value, "gate_id": gate.gate_id, "door": alarm.door,
              "raised_at": alarm.raised_at.isoformat()},
    )
