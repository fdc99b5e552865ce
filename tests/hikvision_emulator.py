"""A Hikvision access terminal for the tests: the ISAPI endpoints the bridge uses, behind digest authentication
(RFC 7616, MD5, ``qop=auth``, as the terminals challenge), recording what it is told; its event store, searched with
``POST AcsEvent`` page by page as the terminals answer; and the terminal's other half, which pushes
``AccessControllerEvent`` notifications to the bridge's listener as the terminals do (multipart ``event_log`` +
``Picture``, or plain JSON).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.servers import free_port

FIXTURES = Path(__file__).parent / "data" / "hikvision"
REALM = "DS-K1T341AM"
TERMINAL_TIME = timezone(timedelta(hours=8))
MAX_SEARCH_RESULTS = 30  # what a terminal answers at most per page, whatever maxResults asks
SEARCH_FIELDS = ("searchID", "searchResultPosition", "maxResults", "major", "minor", "startTime", "endTime")
_PAIRS = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]+))')


def fixture(name: str, **changes: Any) -> dict[str, Any]:
    """A published-shape notification from tests/data/hikvision, with ``AccessControllerEvent`` fields changed."""
    body: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    top = {key: changes.pop(key) for key in list(changes) if key in ("dateTime", "eventType")}
    body.update(top)
    if "AccessControllerEvent" in body:
        body["AccessControllerEvent"].update(changes)
    return body


def stored_record(notification: dict[str, Any]) -> dict[str, Any]:
    """The ``AcsEvent`` search's ``InfoList`` item for a notification: the same event under the search's names
    (``major``, ``minor``, ``time``; the rest as pushed)."""
    inner = dict(notification["AccessControllerEvent"])
    record = {"major": inner.pop("majorEventType"), "minor": inner.pop("subEventType"),
              "time": notification["dateTime"]}
    for key in ("cardNo", "cardType", "name", "cardReaderNo", "doorNo", "employeeNoString", "serialNo", "userType",
                "currentVerifyMode", "mask", "pictureURL"):
        if key in inner:
            record[key] = inner[key]
    return record


def _status(code: int = 1, sub: str = "ok", http: int = 200) -> web.Response:
    status_string = "OK" if code == 1 else "Invalid Content"
    return web.json_response({"statusCode": code, "statusString": status_string, "subStatusCode": sub}, status=http)


@dataclass
class EmulatedTerminal:
    username: str = "admin"
    password: str = "Terminal-pass-1"
    doors: int = 1
    persons: dict[str, dict[str, Any]] = field(default_factory=dict)
    cards: dict[str, str] = field(default_factory=dict)  # cardNo → employeeNo
    week_plans: dict[int, dict[str, Any]] = field(default_factory=dict)
    templates: dict[int, dict[str, Any]] = field(default_factory=dict)
    opened: list[int] = field(default_factory=list)
    refused_auth: int = 0
    requests: list[str] = field(default_factory=list)
    nonces: set[str] = field(default_factory=set)
    stored: list[dict[str, Any]] = field(default_factory=list)  # InfoList records, oldest first
    searches: list[dict[str, Any]] = field(default_factory=list)  # the AcsEventCond of each search
    serials: itertools.count[int] = field(default_factory=lambda: itertools.count(5000))
    stores_serial_no: bool = True
    """False: older firmware, whose search answers leave serialNo out of the records (its pushes carry it)."""

    def record(self, name: str, at: datetime | None = None, **changes: Any) -> dict[str, Any]:
        """An event happens at the terminal: stored (a search finds it) with the next serialNo, at ``at`` (now by
        default); the notification it would push, to push it or not."""
        when = (at or datetime.now(TERMINAL_TIME)).astimezone(TERMINAL_TIME).replace(microsecond=0)
        notification = fixture(name, dateTime=when.isoformat(), serialNo=next(self.serials), **changes)
        stored = stored_record(notification)
        if not self.stores_serial_no:
            del stored["serialNo"]
        self.stored.append(stored)
        return notification

    def power_cut(self) -> None:
        """A reset to factory settings (or a replaced terminal): every person, card and schedule gone."""
        self.persons.clear()
        self.cards.clear()
        self.week_plans.clear()
        self.templates.clear()

    # -- digest authentication ----------------------------------------------------------------------------------

    def _challenge(self) -> web.Response:
        nonce = secrets.token_hex(16)
        self.nonces.add(nonce)
        header = f'Digest qop="auth", realm="{REALM}", nonce="{nonce}", stale="FALSE"'
        return web.Response(status=401, headers={"WWW-Authenticate": header}, text="Unauthorized")

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Digest "):
            return False
        pairs = {key: quoted or bare for key, quoted, bare in _PAIRS.findall(header)}
        if pairs.get("username") != self.username or pairs.get("realm") != REALM:
            return False
        if pairs.get("nonce") not in self.nonces or pairs.get("uri") != request.path_qs:
            return False

        def md5(text: str) -> str:
            return hashlib.md5(text.encode()).hexdigest()

        ha1 = md5(f"{self.username}:{REALM}:{self.password}")
        ha2 = md5(f"{request.method}:{pairs['uri']}")
        expected = md5(f"{ha1}:{pairs['nonce']}:{pairs.get('nc')}:{pairs.get('cnonce')}:{pairs.get('qop')}:{ha2}")
        return pairs.get("qop") == "auth" and secrets.compare_digest(expected, pairs.get("response", ""))

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not self._authorised(request):
            if "Authorization" in request.headers:
                self.refused_auth += 1
            return self._challenge()
        self.requests.append(f"{request.method} {request.path}")
        response: web.StreamResponse = await handler(request)
        return response

    # -- ISAPI ----------------------------------------------------------------------------------------------------

    async def user_record(self, request: web.Request) -> web.Response:
        info = (await request.json())["UserInfo"]
        if info["employeeNo"] in self.persons:
            return _status(6, "employeeNoAlreadyExist", 400)
        self.persons[info["employeeNo"]] = info
        return _status()

    async def user_modify(self, request: web.Request) -> web.Response:
        info = (await request.json())["UserInfo"]
        if info["employeeNo"] not in self.persons:
            return _status(6, "employeeNoNotExist", 400)
        self.persons[info["employeeNo"]] = info
        return _status()

    async def user_delete(self, request: web.Request) -> web.Response:
        for item in (await request.json())["UserInfoDelCond"]["EmployeeNoList"]:
            self.persons.pop(item["employeeNo"], None)
            for card in [card for card, owner in self.cards.items() if owner == item["employeeNo"]]:
                del self.cards[card]
        return _status()

    async def user_count(self, request: web.Request) -> web.Response:
        return web.json_response({"UserInfoCount": {"userNumber": len(self.persons)}})

    async def card_record(self, request: web.Request) -> web.Response:
        card = (await request.json())["CardInfo"]
        if card["employeeNo"] not in self.persons:
            return _status(6, "employeeNoNotExist", 400)
        if card["cardNo"] in self.cards:
            return _status(6, "cardNoAlreadyExist", 400)
        self.cards[card["cardNo"]] = card["employeeNo"]
        return _status()

    async def card_modify(self, request: web.Request) -> web.Response:
        card = (await request.json())["CardInfo"]
        self.cards[card["cardNo"]] = card["employeeNo"]
        return _status()

    async def card_delete(self, request: web.Request) -> web.Response:
        for item in (await request.json())["CardInfoDelCond"]["CardNoList"]:
            self.cards.pop(item["cardNo"], None)
        return _status()

    async def week_plan(self, request: web.Request) -> web.Response:
        body = (await request.json())["UserRightWeekPlanCfg"]
        if len(body["WeekPlanCfg"]) > 56:
            return _status(6, "badParameters", 400)
        self.week_plans[int(request.match_info["number"])] = body
        return _status()

    async def plan_template(self, request: web.Request) -> web.Response:
        self.templates[int(request.match_info["number"])] = (await request.json())["UserRightPlanTemplate"]
        return _status()

    async def remote_control(self, request: web.Request) -> web.Response:
        door = int(request.match_info["door"])
        text = await request.text()
        ok = "<cmd>open</cmd>" in text and 1 <= door <= self.doors
        code, sub = (1, "ok") if ok else (4, "invalidOperation")
        body = ('<?xml version="1.0" encoding="UTF-8"?><ResponseStatus version="2.0" '
                'xmlns="http://www.isapi.org/ver20/XMLSchema"><requestURL>'
                f"{request.path}</requestURL><statusCode>{code}</statusCode><statusString>"
                f"{'OK' if ok else 'Invalid Operation'}</statusString><subStatusCode>{sub}</subStatusCode>"
                "</ResponseStatus>")
        if ok:
            self.opened.append(door)
        return web.Response(text=body, content_type="application/xml", status=200 if ok else 403)

    async def acs_event(self, request: web.Request) -> web.Response:
        """``POST AcsEvent``: the stored events between startTime and endTime (inclusive), of major/minor (0: all),
        from searchResultPosition, at most maxResults (capped as a terminal caps it); ``MORE`` while more follow."""
        condition = (await request.json()).get("AcsEventCond")
        if not isinstance(condition, dict) or any(key not in condition for key in SEARCH_FIELDS):
            return _status(6, "badParameters", 400)
        self.searches.append(condition)
        start, end = (datetime.fromisoformat(condition[key]) for key in ("startTime", "endTime"))
        found = [record for record in self.stored
                 if start <= datetime.fromisoformat(record["time"]) <= end
                 and condition["major"] in (0, record["major"]) and condition["minor"] in (0, record["minor"])]
        position = int(condition["searchResultPosition"])
        page = found[position:position + min(int(condition["maxResults"]), MAX_SEARCH_RESULTS)]
        status = "MORE" if position + len(page) < len(found) else "OK" if page else "NO MATCH"
        body: dict[str, Any] = {"searchID": condition["searchID"], "responseStatusStrg": status,
                                "numOfMatches": len(page), "totalMatches": len(found)}
        if page:
            body["InfoList"] = page
        return web.json_response({"AcsEvent": body})

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        base = "/ISAPI/AccessControl"
        app.router.add_post(f"{base}/UserInfo/Record", self.user_record)
        app.router.add_put(f"{base}/UserInfo/Modify", self.user_modify)
        app.router.add_put(f"{base}/UserInfo/Delete", self.user_delete)
        app.router.add_get(f"{base}/UserInfo/Count", self.user_count)
        app.router.add_post(f"{base}/CardInfo/Record", self.card_record)
        app.router.add_put(f"{base}/CardInfo/Modify", self.card_modify)
        app.router.add_put(f"{base}/CardInfo/Delete", self.card_delete)
        app.router.add_put(f"{base}/UserRightWeekPlanCfg/{{number}}", self.week_plan)
        app.router.add_put(f"{base}/UserRightPlanTemplate/{{number}}", self.plan_template)
        app.router.add_put(f"{base}/RemoteControl/door/{{door}}", self.remote_control)
        app.router.add_post(f"{base}/AcsEvent", self.acs_event)
        return app


class TerminalServer:
    """The emulated terminal's ISAPI server on 127.0.0.1, a free port."""

    def __init__(self, terminal: EmulatedTerminal) -> None:
        self.terminal = terminal
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Serve (again: on the port it had, so a bridge configured with its url reaches it)."""
        self._runner = web.AppRunner(self.terminal.app(), access_log=None)
        await self._runner.setup()
        self.port = self.port or free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        """Unplugged: nothing answers on its port."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def push(listener: str, gate: str, notification: dict[str, Any] | bytes, picture: bytes | None = None,
               multipart: bool = True, token: str | None = None, source: str | None = None,
               ) -> tuple[int, dict[str, Any]]:
    """Push one notification as a terminal does: multipart/form-data with the JSON in ``event_log`` and the
    capture in ``Picture`` (or the JSON alone as the body), to ``/hikvision/<gate>`` (``/<token>`` after it when
    given), from ``source`` (a loopback address other than 127.0.0.1: another host) when given; the listener's
    status and answer."""
    text = notification if isinstance(notification, bytes) else json.dumps(notification).encode()
    url = f"{listener}/hikvision/{gate}" + (f"/{token}" if token is not None else "")
    connector = aiohttp.TCPConnector(local_addr=(source, 0)) if source else None
    async with aiohttp.ClientSession(connector=connector) as session:
        if multipart:
            form = aiohttp.FormData()
            form.add_field("event_log", text.decode("utf-8", errors="replace"), content_type="application/json")
            if picture is not None:
                form.add_field("Picture", picture, filename="Picture.jpg", content_type="image/jpeg")
            request = session.post(url, data=form)
        else:
            request = session.post(url, data=text, headers={"Content-Type": "application/json"})
        async with request as response:
            try:
                answer = await response.json(content_type=None)
            except ValueError:
                answer = {}
            return response.status, answer if isinstance(answer, dict) else {}
