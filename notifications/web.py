"""The notifications' JSON API at /api/notifications: a person's notifications (list, mark read), organisations'
endpoints (webhooks and group robots: list, create, change — enabled, label, kinds —, delete; an administrator for
any organisation, staff for their own), and the delivery log with its retry (staff within their scope). Another's
notification, organisation, endpoint or delivery answers 404, as an unknown one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from notifications.events import Channel, NotificationKind, Severity
from notifications.service import (
    DELIVERY_READERS,
    ENDPOINT_KEEPERS,
    NotFailed,
    NotificationService,
    NotVisible,
    Refused,
)
from notifications.storage import CentreItem, Delivery, DeliveryState, Endpoint
from webkit.auth import PRINCIPAL
from webkit.context_app import ContextApp
from webkit.json_errors import json_error
from webkit.openapi import LIMIT, OFFSET, QueryParam, Route, add_routes

NOTIFICATIONS = web.AppKey("notification_service", NotificationService)
PREFIX = "/api/notifications"


class NotificationOut(BaseModel):
    notification_id: int
    kind: NotificationKind
    severity: Severity
    title: str
    text: str
    occurred_at: datetime
    read_at: datetime | None


class NotificationsOut(BaseModel):
    unread: int
    items: list[NotificationOut]


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Channel = Field(description="webhook, wecom or dingtalk")
    label: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="http(s) URL: the receiver, or the robot's webhook address (with its key or access_token)")
    secret: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="Signing secret (webhook: generated when omitted and shown once; DingTalk: the "
        "robot's SEC... secret when 加签 is on)")
    kinds: Annotated[list[NotificationKind], Field(max_length=20)] = Field(
        default=[], description="The kinds it receives (empty: all)")


class EndpointChange(BaseModel):
    """What to change of an endpoint: any of enabled, label, kinds (at least one); a field left out (or null) stays
    as it is, so {"enabled": false} alone disables it, as before. All or nothing, in one transaction."""
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})
    enabled: bool | None = Field(default=None, description="false: nothing more is delivered to it (its pending "
                                 "deliveries fail); true: events from now on are delivered to it again")
    label: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)] | None = Field(
        default=None, description="Its new name")
    kinds: Annotated[list[NotificationKind], Field(max_length=20)] | None = Field(
        default=None, description="The kinds it receives from now on, replacing the list it had (empty: all); an "
        "unknown kind is refused (400) as when adding")

    @model_validator(mode="after")
    def _changes_something(self) -> EndpointChange:
        if self.enabled is None and self.label is None and self.kinds is None:
            raise ValueError("give at least one of enabled, label, kinds")
        return self


class EndpointOut(BaseModel):
    endpoint_id: int
    organisation_id: str
    channel: Channel
    label: str
    url: str
    kinds: list[NotificationKind]
    enabled: bool
    created_at: datetime


class CreatedEndpointOut(EndpointOut):
    secret: str = Field(description="The signing secret: shown this once")


class EndpointsOut(BaseModel):
    endpoints: list[EndpointOut]


class DeliveryOut(BaseModel):
    delivery_id: int
    event_id: int
    recipient: str
    channel: Channel
    idempotency_key: str
    community_id: str | None
    market_id: str | None
    state: DeliveryState
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    held_until: datetime | None
    sent_at: datetime | None
    last_error: str | None


class DeliveriesOut(BaseModel):
    deliveries: list[DeliveryOut]


def _int(value: str, name: str) -> int:
    if not value.isdigit() or len(value) > 12:
        raise json_error(web.HTTPNotFound, f"no such {name}")
    return int(value)


def _query_int(request: web.Request, name: str, default: int, ceiling: int) -> int:
    value = request.query.get(name, str(default))
    if not value.isdigit() or len(value) > 6:
        raise json_error(web.HTTPBadRequest, f"{name} is a whole number")
    return min(int(value), ceiling)


async def my_notifications(request: web.Request) -> web.Response:
    service, subject = request.app[NOTIFICATIONS], request[PRINCIPAL].subject
    items = await service.notifications(subject, _query_int(request, "limit", 50, 200),
                                        _query_int(request, "offset", 0, 100_000),
                                        unread_only=request.query.get("unread") == "true")
    out = NotificationsOut(unread=await service.unread_count(subject), items=[_notification(i) for i in items])
    return web.json_response(out.model_dump(mode="json"))


async def mark_read(request: web.Request) -> web.Response:
    number = _int(request.match_info["notification_id"], "notification")
    try:
        await request.app[NOTIFICATIONS].mark_read(request[PRINCIPAL].subject, number)
    except NotVisible:
        raise json_error(web.HTTPNotFound, "no such notification") from None
    return web.json_response({"notification_id": number, "read": True})


async def list_endpoints(request: web.Request) -> web.Response:
    try:
        found = await request.app[NOTIFICATIONS].endpoints(request[PRINCIPAL], request.match_info["organisation_id"])
    except NotVisible:
        raise json_error(web.HTTPNotFound, "no such organisation") from None
    return web.json_response(EndpointsOut(endpoints=[_endpoint(e) for e in found]).model_dump(mode="json"))


async def create_endpoint(request: web.Request) -> web.Response:
    try:
        data = EndpointIn.model_validate_json(await request.read())
    except ValidationError as error:
        raise json_error(web.HTTPBadRequest, "invalid endpoint", details=error.errors(
            include_url=False, include_context=False, include_input=False)) from None
    try:
        created = await request.app[NOTIFICATIONS].add_endpoint(
            request[PRINCIPAL], request.match_info["organisation_id"], data.channel, data.label, data.url,
            data.secret, data.kinds)
    except NotVisible:
        raise json_error(web.HTTPNotFound, "no such organisation") from None
    except Refused as refusal:
        raise json_error(web.HTTPUnprocessableEntity, str(refusal), field=refusal.field) from None
    out = CreatedEndpointOut(**_endpoint(created.endpoint).model_dump(), secret=created.secret)
    return web.json_response(out.model_dump(mode="json"), status=201, headers={"Cache-Control": "no-store"})


async def change_endpoint(request: web.Request) -> web.Response:
    try:
        data = EndpointChange.model_validate_json(await request.read())
    except ValidationError as error:
        raise json_error(web.HTTPBadRequest, "invalid change", details=error.errors(
            include_url=False, include_context=False, include_input=False)) from None
    try:
        changed = await request.app[NOTIFICATIONS].change_endpoint(
            request[PRINCIPAL], request.match_info["organisation_id"],
            _int(request.match_info["endpoint_id"], "endpoint"), enabled=data.enabled, label=data.label,
            kinds=data.kinds)
    except NotVisible:
        raise json_error(web.HTTPNotFound, "no such endpoint") from None
    except Refused as refusal:
        raise json_error(web.HTTPUnprocessableEntity, str(refusal), field=refusal.field) from None
    return web.json_response(_endpoint(changed).model_dump(mode="json"))


async def delete_endpoint(request: web.Request) -> web.Response:
    try:
        await request.app[NOTIFICATIONS].remove_endpoint(
            request[PRINCIPAL], request.match_info["organisation_id"],
            _int(request.match_info["endpoint_id"], "endpoint"))
    except NotVisible:
        raise json_error(web.HTTPNotFound, "no such endpoint") from None
    return web.json_response({"deleted": True})


async def list_deliveries(request: web.Request) -> web.Response:
    state_name = request.query.get("state")
    try:
        state = DeliveryState(state_name) if state_name else None
    except ValueError:
        raise json_error(web.HTTPBadRequest, "state is pending, sent or failed") from None
    found = await request.app[NOTIFICATIONS].deliveries(request[PRINCIPAL], state,
                                                        _query_int(request, "limit", 100, 500),
                                                        _query_int(request, "offset", 0, 1_000_000))
    return web.json_response(DeliveriesOut(deliveries=[_delivery(d) for d in found]).model_dump(mode="json"))


async def retry_delivery(request: web.Request) -> web.Response:
    try:
        retried = await request.app[NOTIFICATIONS].retry(request[PRINCIPAL],
                                                         _int(request.match_info["delivery_id"], "delivery"))
    except NotVisible:
        raise json_error(web.HTTPNotFound, "no such delivery") from None
    except NotFailed:
        raise json_error(web.HTTPConflict, "only a failed delivery is retried by hand") from None
    return web.json_response(_delivery(retried).model_dump(mode="json"))


def _notification(item: CentreItem) -> NotificationOut:
    return NotificationOut(notification_id=item.notification_id, kind=item.kind, severity=item.severity,
                           title=item.title, text=item.text, occurred_at=item.occurred_at, read_at=item.read_at)


def _endpoint(endpoint: Endpoint) -> EndpointOut:
    return EndpointOut(endpoint_id=endpoint.endpoint_id, organisation_id=endpoint.organisation_id,
                       channel=endpoint.channel, label=endpoint.label, url=endpoint.url,
                       kinds=sorted(endpoint.kinds), enabled=endpoint.enabled, created_at=endpoint.created_at)


def _delivery(delivery: Delivery) -> DeliveryOut:
    return DeliveryOut(
        delivery_id=delivery.delivery_id, event_id=delivery.event_id, recipient=delivery.recipient,
        channel=delivery.channel, idempotency_key=delivery.idempotency_key, community_id=delivery.community_id,
        market_id=delivery.market_id, state=delivery.state, attempts=delivery.attempts,
        created_at=delivery.created_at, next_attempt_at=delivery.next_attempt_at, held_until=delivery.held_until,
        sent_at=delivery.sent_at, last_error=delivery.last_error)


ANYONE_SIGNED_IN: tuple[()] = ()
ORG = PREFIX + "/organisations/{organisation_id}/endpoints"
ROUTES = [
    Route("GET", PREFIX, my_notifications, "The caller's notifications (newest first) and their unread count",
          None, NotificationsOut, 200, ANYONE_SIGNED_IN, (400,),
          (LIMIT, OFFSET, QueryParam("unread", "boolean", "Only unread ones"))),
    Route("POST", PREFIX + "/{notification_id}/read", mark_read, "Mark one of the caller's notifications read",
          None, None, 200, ANYONE_SIGNED_IN, (404,)),
    Route("GET", ORG, list_endpoints, "An organisation's webhooks and group robots (secrets are not shown)", None,
          EndpointsOut, 200, ENDPOINT_KEEPERS, (404,)),
    Route("POST", ORG, create_endpoint, "Add a webhook, WeCom or DingTalk robot to an organisation; a webhook's "
          "secret is shown once", EndpointIn, CreatedEndpointOut, 201, ENDPOINT_KEEPERS, (400, 404, 422)),
    Route("PUT", ORG + "/{endpoint_id}", change_endpoint, "Change an endpoint: enable or disable it, rename it, "
          "set the kinds it receives (any of them, at least one; one transaction)", EndpointChange, EndpointOut, 200,
          ENDPOINT_KEEPERS, (400, 404, 422)),
    Route("DELETE", ORG + "/{endpoint_id}", delete_endpoint, "Remove an endpoint (its pending deliveries fail)",
          None, None, 200, ENDPOINT_KEEPERS, (404,)),
    Route("GET", PREFIX + "/deliveries", list_deliveries, "The delivery log of events in the caller's scope: state, "
          "attempts, last error", None, DeliveriesOut, 200, DELIVERY_READERS, (400,),
          (QueryParam("state", "string", "pending, sent or failed"), LIMIT, OFFSET)),
    Route("POST", PREFIX + "/deliveries/{delivery_id}/retry", retry_delivery, "Try a failed delivery again now",
          None, DeliveryOut, 200, DELIVERY_READERS, (404, 409)),
]


def mount(app: web.Application, service: NotificationService) -> web.Application:
    """Serve this API from its own sub-application of ``app`` at /api/notifications."""
    api = ContextApp(PREFIX)
    api.app[NOTIFICATIONS] = service
    add_routes(app, ROUTES, context=api)
    return api.attach(app)
