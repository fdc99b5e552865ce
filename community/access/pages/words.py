"""How the access pages name the domain's values, in Chinese: events, methods, reasons, alarms, statuses, roles,
credentials, door kinds; a weekly window as people say it; why a remote open did not happen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from community.access.alarms import AlarmKind, AlarmStatus
from community.access.directory import DoorKind, ResidentRole, ResidentStatus
from community.access.permissions import ALWAYS, CredentialKind, WeeklyWindow
from community.access.remote_open import RemoteOpen, RemoteOpenStatus
from community.access.visitors import PassStatus
from devices import chinese_names
from devices.contract import AccessMethod, DenialReason, Direction, GateEventKind


@dataclass(frozen=True)
class Words:
    """How the pages name the domain's values, in Chinese."""

    event: Mapping[GateEventKind, str]
    method: Mapping[AccessMethod, str]
    direction: Mapping[Direction, str]
    reason: Mapping[DenialReason, str]
    alarm: Mapping[AlarmKind, str]
    alarm_status: Mapping[AlarmStatus, str]
    open_status: Mapping[RemoteOpenStatus, str]
    pass_status: Mapping[PassStatus, str]
    role: Mapping[ResidentRole, str]
    resident_status: Mapping[ResidentStatus, str]
    credential: Mapping[CredentialKind, str]
    door_kind: Mapping[DoorKind, str]


WORDS = Words(
    event=chinese_names.GATE_EVENT,
    method=chinese_names.ACCESS_METHOD,
    direction=chinese_names.DIRECTION,
    reason=chinese_names.DENIAL_REASON,
    alarm={AlarmKind.FORCED_DOOR: "强行开门", AlarmKind.DOOR_HELD_OPEN: "门长时间未关",
           AlarmKind.TAMPER: "设备防拆报警", AlarmKind.REPEATED_DENIALS: "多次拒绝通行",
           AlarmKind.GATE_OFFLINE: "门禁离线"},
    alarm_status={AlarmStatus.OPEN: "未处理", AlarmStatus.ACKNOWLEDGED: "处理中", AlarmStatus.RESOLVED: "已解决"},
    open_status={RemoteOpenStatus.PENDING: "等待门禁回应", RemoteOpenStatus.OPENED: "已开门",
                 RemoteOpenStatus.FAILED: "开门失败", RemoteOpenStatus.TIMED_OUT: "门禁未回应"},
    pass_status={PassStatus.ACTIVE: "有效", PassStatus.REVOKED: "已撤销", PassStatus.USED_UP: "次数已用完",
                 PassStatus.EXPIRED: "已过期"},
    role={ResidentRole.OWNER: "业主", ResidentRole.FAMILY: "家庭成员", ResidentRole.TENANT: "租户"},
    resident_status={ResidentStatus.ACTIVE: "正常", ResidentStatus.REVOKED: "已停用",
                     ResidentStatus.MOVED_OUT: "已迁出"},
    credential={CredentialKind.CARD: "门禁卡", CredentialKind.PIN: "密码", CredentialKind.FACE: "人脸",
                CredentialKind.QR: "二维码"},
    door_kind={DoorKind.ENTRANCE: "小区出入口", DoorKind.BUILDING: "单元门", DoorKind.GARAGE: "地库"},
)


_WEEKDAYS = "一二三四五六日"


def window_text(window: WeeklyWindow) -> str:
    """A weekly window as people say it: 全天, 每天 06:00–23:00, 周一至周五 08:00–18:00."""
    if window == ALWAYS:
        return "全天"
    days = sorted(window.days)
    if len(days) == 7:
        day_text = "每天"
    elif days == [0, 1, 2, 3, 4]:
        day_text = "周一至周五"
    elif days == [5, 6]:
        day_text = "周末"
    else:
        day_text = "、".join(f"周{_WEEKDAYS[day]}" for day in days)
    if window.start == window.end:
        return f"{day_text} {window.start:%H:%M} 起 24 小时"
    overnight = "（次日）" if window.crosses_midnight else ""
    return f"{day_text} {window.start:%H:%M}–{overnight}{window.end:%H:%M}"


def open_error_text(request: RemoteOpen) -> str | None:
    """Why a remote open did not happen, in words (a gate's own error text is shown as it came)."""
    error = request.error
    if error is None:
        return None
    if error == "the gate is offline":
        return "门禁离线，指令未发送。"
    if error == "no answer from the gate":
        return "门禁在规定时间内没有回应，门未打开（迟到的指令会被门禁忽略）。"
    if error.startswith("the command could not be sent"):
        return "消息服务器暂时无法接收指令，指令未发送。"
    return f"门禁回复：{error}"
