"""What people read for the values of the device contract, in Chinese: one vocabulary for every page
that shows gate events (the gateway's status page, the property manager's console and access log)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from devices.contract import AccessMethod, DenialReason, Direction, GateEventKind
from devices.topics import DeviceKind

GATE_EVENT: Final[Mapping[GateEventKind, str]] = {
    GateEventKind.GRANTED: "通行", GateEventKind.DENIED: "拒绝", GateEventKind.FORCED: "强行开门",
    GateEventKind.HELD_OPEN: "门未关", GateEventKind.TAMPER: "防拆报警", GateEventKind.DOOR_OPEN: "门已打开",
    GateEventKind.DOOR_CLOSED: "门已关闭",
}
ACCESS_METHOD: Final[Mapping[AccessMethod, str]] = {
    AccessMethod.CARD: "刷卡", AccessMethod.QR: "二维码", AccessMethod.FACE: "人脸", AccessMethod.PIN: "密码",
    AccessMethod.FINGERPRINT: "指纹", AccessMethod.REMOTE: "远程开门", AccessMethod.BUTTON: "按钮开门",
}
DIRECTION: Final[Mapping[Direction, str]] = {Direction.IN: "进", Direction.OUT: "出"}
DENIAL_REASON: Final[Mapping[DenialReason, str]] = {
    DenialReason.NO_PERMISSION: "无此门的通行权限", DenialReason.EXPIRED: "凭证已过期",
    DenialReason.UNKNOWN_CREDENTIAL: "未登记的卡或凭证", DenialReason.OUTSIDE_SCHEDULE: "不在允许通行的时段",
    DenialReason.BLACKLISTED: "已挂失或停用（黑名单）",
}
DEVICE_KIND: Final[Mapping[DeviceKind, str]] = {DeviceKind.GATE: "门禁", DeviceKind.SCALE: "追溯秤"}
