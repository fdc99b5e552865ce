"""The notifications' pages: the notification centre (/notifications: the list, mark read, mark all read; its
unread count is in every page's header), a person's settings (/notifications/settings: e-mail, phone, quiet hours,
channels per kind) and, for staff, the delivery log (/notifications/deliveries: state, attempts, last error, a retry
button for a failed delivery) within their scope."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from notifications.events import (
    CHANNEL_NAMES,
    KIND_NAMES,
    PERSONAL_CHANNELS,
    NotificationKind,
)
from notifications.preferences import EMAIL, PHONE, Preferences
from notifications.quiet_hours import QuietHours
from notifications.recipients import AUDIENCE, OWNERS_KINDS
from notifications.service import DELIVERY_READERS, NotFailed, NotificationService, NotVisible
from notifications.storage import DeliveryState
from webkit.auth import PRINCIPAL
from webkit.identity import Role
from webkit.pages import (
    NavLink,
    PageProblem,
    add_navigation,
    add_templates,
    form_of,
    page,
    render,
    see_other,
    show_unread_counts,
)

TEMPLATE_DIR = Path(__file__).parent / "templates"
PAGE_NOTIFICATIONS = web.AppKey("page_notifications", NotificationService)
STATE_NAMES = {DeliveryState.PENDING: "待发送", DeliveryState.SENT: "已送达", DeliveryState.FAILED: "失败"}
SETTINGS_MARK = "settings_form"
"""A hidden field the settings form always sends: a post without it is not this form's (400)."""


def _service(request: web.Request) -> NotificationService:
    return request.config_dict[PAGE_NOTIFICATIONS]


def _number(value: str) -> int:
    if not value.isdigit() or len(value) > 12:
        raise PageProblem(404, "找不到这条记录。")
    return int(value)


@page()
async def centre(request: web.Request) -> web.Response:
    subject = request[PRINCIPAL].subject
    items = await _service(request).notifications(subject, limit=100)
    return await render(request, "notifications/centre.html", {
        "items": items, "kind_names": KIND_NAMES,
        "through": max((item.notification_id for item in items), default=0),
        "has_unread": any(item.read_at is None for item in items),
    })


@page()
async def read_one(request: web.Request) -> web.Response:
    try:
        await _service(request).mark_read(request[PRINCIPAL].subject, _number(request.match_info["notification_id"]))
    except NotVisible:
        raise PageProblem(404, "找不到这条通知。") from None
    return see_other("/notifications")


@page()
async def read_all(request: web.Request) -> web.Response:
    through = (await form_of(request)).get("through", "")
    if not through.isdigit() or len(through) > 12:
        raise PageProblem(400, "请在通知页上点“全部标为已读”。")
    await _service(request).mark_all_read(request[PRINCIPAL].subject, int(through))
    return see_other("/notifications")


@page()
async def settings_page(request: web.Request) -> web.Response:
    preferences = await _service(request).preferences(request[PRINCIPAL].subject)
    return await _settings(request, _values(preferences), {})


async def _settings(request: web.Request, values: dict[str, Any], problems: dict[str, str],
                    status: int = 200, saved: bool = False) -> web.Response:
    service = _service(request)
    return await render(request, "notifications/settings.html", {
        "values": values, "problems": problems, "saved": saved or request.query.get("saved") == "1",
        "kinds": [(kind, KIND_NAMES[kind]) for kind in NotificationKind
                  if kind in AUDIENCE or kind in OWNERS_KINDS],
        "channels": [(channel, CHANNEL_NAMES[channel]) for channel in PERSONAL_CHANNELS
                     if channel in service.configured], "mark": SETTINGS_MARK,
    }, status=status)


@page()
async def save_settings(request: web.Request) -> web.Response:
    form = await form_of(request)
    if SETTINGS_MARK not in form:
        raise PageProblem(400, "请在通知设置页上填写并保存。")
    values, problems, preferences = _read_settings(form)
    if problems:
        return await _settings(request, values, problems, status=422)
    await _service(request).save_preferences(request[PRINCIPAL].subject, preferences)
    return see_other("/notifications/settings?saved=1")


def _values(preferences: Preferences) -> dict[str, Any]:
    hours = preferences.quiet_hours
    return {
        "email": preferences.email or "", "phone": preferences.phone or "",
        "quiet_start": hours.start.strftime("%H:%M") if hours else "",
        "quiet_end": hours.end.strftime("%H:%M") if hours else "",
        "chosen": {f"{kind.value}:{channel.value}" for kind in NotificationKind
                   for channel in preferences.chosen(kind)},
    }


def _read_settings(form: MultiDictProxy[str]) -> tuple[dict[str, Any], dict[str, str], Preferences]:
    email, phone = form.get("email", "").strip(), form.get("phone", "").strip()
    start, end = form.get("quiet_start", "").strip(), form.get("quiet_end", "").strip()
    chosen = {name for name in form.getall("channel", []) if len(name) <= 40}
    values = {"email": email, "phone": phone, "quiet_start": start, "quiet_end": end, "chosen": chosen}
    problems: dict[str, str] = {}
    if email and (len(email) > 254 or not EMAIL.match(email)):
        problems["email"] = "请填写有效的电子邮件地址，如 name@example.com"
    if phone and not PHONE.match(phone):
        problems["phone"] = "请填写 11 位手机号码"
    hours = None
    if start or end:
        try:
            hours = QuietHours(time.fromisoformat(start), time.fromisoformat(end))
        except ValueError:
            problems["quiet_start"] = "请填写开始和结束时间，格式 HH:MM（如 22:00 与 07:00）"
    channels = {kind: frozenset(channel for channel in PERSONAL_CHANNELS if f"{kind.value}:{channel.value}" in chosen)
                for kind in NotificationKind}
    return values, problems, Preferences(email or None, phone or None, hours, channels)


@page(*DELIVERY_READERS)
async def delivery_log(request: web.Request) -> web.Response:
    state_name = request.query.get("state", "")
    state = DeliveryState(state_name) if state_name in DeliveryState.__members__.values() else None
    deliveries = await _service(request).deliveries(request[PRINCIPAL], state, limit=200)
    return await render(request, "notifications/deliveries.html", {
        "deliveries": deliveries, "state": state, "state_names": STATE_NAMES, "channel_names": CHANNEL_NAMES,
        "retried": request.query.get("retried", ""),
    })


@page(*DELIVERY_READERS)
async def retry(request: web.Request) -> web.Response:
    number = _number(request.match_info["delivery_id"])
    try:
        await _service(request).retry(request[PRINCIPAL], number)
    except NotVisible:
        raise PageProblem(404, "找不到这条投递记录。") from None
    except NotFailed:
        raise PageProblem(409, "只有失败的投递可以重试；这条投递仍在发送或已送达。") from None
    return see_other(f"/notifications/deliveries?retried={number}")


def mount_notification_pages(app: web.Application, service: NotificationService) -> None:
    """The centre, settings and delivery log on ``app`` (after :func:`accounts.pages.mount_pages`), and the unread
    count in every page's header."""
    app[PAGE_NOTIFICATIONS] = service
    add_templates(app, TEMPLATE_DIR)
    show_unread_counts(app, service)
    app.router.add_get("/notifications", centre)
    app.router.add_post("/notifications/read-all", read_all)
    app.router.add_get("/notifications/settings", settings_page)
    app.router.add_post("/notifications/settings", save_settings)
    app.router.add_get("/notifications/deliveries", delivery_log)
    app.router.add_post("/notifications/deliveries/{delivery_id}/retry", retry)
    app.router.add_post("/notifications/{notification_id}/read", read_one)
    add_navigation(app, NavLink("投递记录", "/notifications/deliveries", (Role.PROPERTY_MANAGER, Role.MARKET_OPERATOR),
                                "通知的投递状态、失败原因与重试"))
