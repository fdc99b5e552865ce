"""The page of an organisation's endpoints (/notifications/organisations/{organisation_id}/endpoints): its signed
webhooks and WeCom/DingTalk group robots — list, add, change (label and kinds), enable/disable, remove, and "send
test" — for administrators (any organisation) and the organisation's own property managers and market operators;
another's organisation or endpoint answers the 404 page an unknown one does. /notifications/endpoints leads to the
caller's organisation (an administrator chooses one). Handlers call :class:`NotificationService`, as the API does,
and word its refusals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web

from notifications.events import CHANNEL_NAMES, ENDPOINT_CHANNELS, KIND_NAMES, Channel, NotificationKind
from notifications.pages import PAGE_NOTIFICATIONS
from notifications.service import ENDPOINT_KEEPERS, NotificationService, NotVisible, Refused, label_problem
from webkit.auth import PRINCIPAL
from webkit.form_checks import FormState, typed
from webkit.identity import Role
from webkit.pages import NavLink, PageProblem, add_navigation, form_of, page, render, see_other

GONE = "找不到这个单位或端点。"
FIELDS = ("channel", "label", "url", "secret")
CHOOSABLE_KINDS = [kind for kind in NotificationKind if kind is not NotificationKind.TEST]
"""What an endpoint may be set to receive (a test is sent to it on request, whatever it receives)."""


def _service(request: web.Request) -> NotificationService:
    return request.config_dict[PAGE_NOTIFICATIONS]


def _organisation(request: web.Request) -> str:
    organisation_id = request.match_info["organisation_id"]
    if not 0 < len(organisation_id) <= 64:
        raise PageProblem(404, GONE)
    return organisation_id


def _endpoint_id(request: web.Request) -> int:
    value = request.match_info["endpoint_id"]
    if not value.isdigit() or len(value) > 12:
        raise PageProblem(404, GONE)
    return int(value)


def _href(organisation_id: str, **query: str) -> str:
    tail = "&".join(f"{name}={quote(value)}" for name, value in query.items())
    return f"/notifications/organisations/{quote(organisation_id)}/endpoints" + (f"?{tail}" if tail else "")


def shown_url(url: str) -> str:
    """An endpoint's address without its query: a robot's key or access token is its credential."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?…" if parts.query else "")


@page(*ENDPOINT_KEEPERS)
async def choose(request: web.Request) -> web.Response:
    organisations = await _service(request).keepable_organisations(request[PRINCIPAL])
    if len(organisations) == 1 and not request[PRINCIPAL].is_admin:
        return see_other(_href(organisations[0][0]))
    return await render(request, "notifications/endpoint_organisations.html", {"organisations": organisations,
                                                                               "href": _href})


@page(*ENDPOINT_KEEPERS)
async def endpoints_page(request: web.Request) -> web.Response:
    return await _page(request, _organisation(request), {}, {})


@dataclass(frozen=True)
class Editing:
    """An endpoint's change refused: its form as typed, shown again with what is wrong next to the fields."""

    endpoint_id: int
    form: FormState
    kinds: frozenset[str]


async def _page(request: web.Request, organisation_id: str, values: dict[str, str], problems: dict[str, str],
                status: int = 200, created_secret: str = "", kinds: Sequence[str] = (),
                editing: Editing | None = None) -> web.Response:
    service = _service(request)
    try:
        name = await service.organisation_name(request[PRINCIPAL], organisation_id)
        endpoints = await service.endpoints(request[PRINCIPAL], organisation_id)
    except NotVisible:
        raise PageProblem(404, GONE) from None
    query = request.query
    return await render(request, "notifications/endpoints.html", {
        "organisation_id": organisation_id, "organisation_name": name, "endpoints": endpoints,
        "channel_names": CHANNEL_NAMES, "channels": [(c, CHANNEL_NAMES[c]) for c in ENDPOINT_CHANNELS],
        "values": {"channel": Channel.WEBHOOK.value, **values}, "problems": problems, "href": _href(organisation_id),
        "kinds": [(kind.value, KIND_NAMES[kind]) for kind in CHOOSABLE_KINDS], "kind_names": KIND_NAMES,
        "chosen_kinds": set(kinds), "editing": editing, "edit_forms": {
            e.endpoint_id: (editing.form, editing.kinds) if editing and editing.endpoint_id == e.endpoint_id
            else (FormState({"label": e.label}), frozenset(kind.value for kind in e.kinds)) for e in endpoints},
        "shown_url": shown_url, "created_secret": created_secret, "tested": query.get("tested", ""),
        "test_failed": query.get("test_failed", "")[:300], "done": query.get("done", ""),
    }, status=status)


@page(*ENDPOINT_KEEPERS)
async def add(request: web.Request) -> web.Response:
    organisation_id = _organisation(request)
    form = await form_of(request)
    values = {name: form.get(name, "").strip() for name in FIELDS}
    problems: dict[str, str] = {}
    try:
        channel = Channel(values["channel"])
    except ValueError:
        channel = None
    if channel not in ENDPOINT_CHANNELS:
        problems["channel"] = "请选择端点类型：Webhook、企业微信群机器人或钉钉群机器人"
    if not values["url"]:
        problems["url"] = "请填写地址"
    chosen = form.getall("kinds", [])
    kinds = _known_kinds(chosen)
    if len(kinds) != len(chosen):
        problems["kinds"] = "请只勾选列出的事件类型"
    if not problems:
        assert channel is not None
        try:
            created = await _service(request).add_endpoint(request[PRINCIPAL], organisation_id, channel,
                                                           values["label"], values["url"], values["secret"] or None,
                                                           kinds)
        except NotVisible:
            raise PageProblem(404, GONE) from None
        except Refused as refusal:
            problems[refusal.field or "url"] = str(refusal)
        else:
            # a webhook's secret is shown this once: this answer is the page itself, not a redirect to it
            shown = created.secret if channel is Channel.WEBHOOK and not values["secret"] else ""
            return await _page(request, organisation_id, {}, {}, status=201 if shown else 200,
                               created_secret=shown) if shown else see_other(_href(organisation_id, done="added"))
    values["secret"] = ""  # never echoed back into the form
    return await _page(request, organisation_id, values, problems, status=422, kinds=chosen)


@page(*ENDPOINT_KEEPERS)
async def set_enabled(request: web.Request) -> web.Response:
    organisation_id, endpoint_id = _organisation(request), _endpoint_id(request)
    enabled = (await form_of(request)).get("enabled", "")
    try:
        if enabled not in ("0", "1"):  # another's endpoint is not found before its form is judged
            if endpoint_id not in {e.endpoint_id for e in await _service(request).endpoints(request[PRINCIPAL],
                                                                                              organisation_id)}:
                raise NotVisible(endpoint_id)
            raise PageProblem(400, "请在端点页上点“停用”或“启用”。")
        await _service(request).change_endpoint(request[PRINCIPAL], organisation_id, endpoint_id,
                                                enabled=enabled == "1")
    except NotVisible:
        raise PageProblem(404, GONE) from None
    return see_other(_href(organisation_id, done="enabled" if enabled == "1" else "disabled"))


@page(*ENDPOINT_KEEPERS)
async def edit(request: web.Request) -> web.Response:
    """An endpoint's label and the kinds it receives (none ticked: every kind), changed together or not at all."""
    organisation_id, endpoint_id = _organisation(request), _endpoint_id(request)
    service = _service(request)
    form = await form_of(request)
    try:  # another's endpoint is not found before its form is judged
        if endpoint_id not in {e.endpoint_id for e in await service.endpoints(request[PRINCIPAL], organisation_id)}:
            raise NotVisible(endpoint_id)
    except NotVisible:
        raise PageProblem(404, GONE) from None
    if "label" not in form:
        raise PageProblem(400, "请在端点页上修改端点的名称和接收的事件。")
    state = typed(form, ("label",))
    problem = label_problem(state.values["label"])
    if problem:
        state.refuse("label", problem)
    chosen = form.getall("kinds", [])
    kinds = _known_kinds(chosen)
    if len(kinds) != len(chosen):
        state.refuse("kinds", "请只勾选列出的事件类型")
    if not state.failed:
        try:
            await service.change_endpoint(request[PRINCIPAL], organisation_id, endpoint_id,
                                          label=state.values["label"], kinds=kinds)
        except NotVisible:
            raise PageProblem(404, GONE) from None
        except Refused as refusal:
            state.refuse(refusal.field or "label", str(refusal))
        else:
            return see_other(_href(organisation_id, done="changed"))
    return await _page(request, organisation_id, {}, {}, status=422,
                       editing=Editing(endpoint_id, state, frozenset(chosen)))


def _known_kinds(chosen: Sequence[str]) -> list[NotificationKind]:
    """The kinds ticked that an endpoint may be set to receive (fewer than ticked: one was not listed)."""
    return [NotificationKind(value) for value in chosen if value in {kind.value for kind in CHOOSABLE_KINDS}]


@page(*ENDPOINT_KEEPERS)
async def remove(request: web.Request) -> web.Response:
    organisation_id, endpoint_id = _organisation(request), _endpoint_id(request)
    try:
        await _service(request).remove_endpoint(request[PRINCIPAL], organisation_id, endpoint_id)
    except NotVisible:
        raise PageProblem(404, GONE) from None
    return see_other(_href(organisation_id, done="removed"))


@page(*ENDPOINT_KEEPERS)
async def send_test(request: web.Request) -> web.Response:
    organisation_id, endpoint_id = _organisation(request), _endpoint_id(request)
    try:
        failure = await _service(request).test_endpoint(request[PRINCIPAL], organisation_id, endpoint_id)
    except NotVisible:
        raise PageProblem(404, GONE) from None
    outcome: dict[str, Any] = {"test_failed": failure} if failure else {"tested": str(endpoint_id)}
    return see_other(_href(organisation_id, **outcome))


def mount_endpoint_pages(app: web.Application) -> None:
    """The endpoints' pages on ``app`` (after :func:`notifications.pages.mount_notification_pages`)."""
    base = "/notifications/organisations/{organisation_id}/endpoints"
    app.router.add_get("/notifications/endpoints", choose)
    app.router.add_get(base, endpoints_page)
    app.router.add_post(base, add)
    app.router.add_post(base + "/{endpoint_id}/enabled", set_enabled)
    app.router.add_post(base + "/{endpoint_id}/edit", edit)
    app.router.add_post(base + "/{endpoint_id}/delete", remove)
    app.router.add_post(base + "/{endpoint_id}/test", send_test)
    add_navigation(app, NavLink("通知端点", "/notifications/endpoints", (Role.PROPERTY_MANAGER, Role.MARKET_OPERATOR),
                                "本单位的 Webhook、企业微信与钉钉群机器人"))
