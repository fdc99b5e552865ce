"""One Hikvision terminal reached over ISAPI (HTTP, digest authentication), typed and checked.

Digest authentication (RFC 7616) is aiohttp's own ``DigestAuthMiddleware`` (aiohttp ≥ 3.12): MD5 and SHA-256,
``qop=auth``, nonce counting, a new challenge answered once; the credentials are scoped to the terminal's origin.
Every failure becomes a :class:`TerminalError` with a :class:`Failure` the bridge counts: no answer, the credentials
refused (401 after the digest answer), a refusal (ISAPI ``ResponseStatus`` with a status code other than 1), an
answer that is not what ISAPI sends.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from types import TracebackType
from typing import Any, Final

import aiohttp

from bridges.hikvision.config import TerminalConfig

MAX_REPLY_BYTES: Final = 256 * 1024
OPEN_DOOR_XML: Final = ('<?xml version="1.0" encoding="UTF-8"?>'
                        '<RemoteControlDoor version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">'
                        "<cmd>open</cmd></RemoteControlDoor>")
_XML_STATUS = re.compile(r"<statusCode>\s*(\d+)\s*</statusCode>")
_XML_SUB_STATUS = re.compile(r"<subStatusCode>\s*([^<]{0,64})\s*</subStatusCode>")


class Failure(StrEnum):
    TIMEOUT = "timeout"  # no answer: unreachable, or too slow
    UNAUTHORIZED = "unauthorized"  # the terminal refused the username and password
    REFUSED = "refused"  # an ISAPI error status
    BAD_REPLY = "bad_reply"  # not what ISAPI answers


class TerminalError(Exception):
    def __init__(self, failure: Failure, detail: str, sub_status: str | None = None) -> None:
        super().__init__(f"{failure.value}: {detail}")
        self.failure = failure
        self.sub_status = sub_status


class Terminal:
    """Requests to one terminal. Use as an async context manager (it owns an HTTP session)."""

    def __init__(self, config: TerminalConfig, timeout_seconds: float) -> None:
        self.config = config
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Terminal:
        digest = aiohttp.DigestAuthMiddleware(self.config.username, self.config.password)
        self._session = aiohttp.ClientSession(self.config.base_url, timeout=self._timeout, middlewares=(digest,))
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        if self._session is not None:
            await self._session.close()

    async def _request(self, method: str, path: str, body: str, content_type: str) -> tuple[int, str]:
        assert self._session is not None, "use the terminal as an async context manager"
        try:
            async with self._session.request(method, path, data=body.encode(),
                                             headers={"Content-Type": content_type}) as response:
                raw = await response.content.read(MAX_REPLY_BYTES + 1)
                status = response.status
        except (TimeoutError, aiohttp.ClientConnectionError) as error:
            raise TerminalError(Failure.TIMEOUT, f"{method} {path.split('?')[0]}: {type(error).__name__}") from None
        except aiohttp.ClientError as error:
            raise TerminalError(Failure.BAD_REPLY, f"{method} {path.split('?')[0]}: {error}"[:120]) from None
        if status == 401:
            raise TerminalError(Failure.UNAUTHORIZED, "the terminal refused the digest credentials")
        if len(raw) > MAX_REPLY_BYTES:
            raise TerminalError(Failure.BAD_REPLY, f"{path.split('?')[0]}: an answer over {MAX_REPLY_BYTES} bytes")
        return status, raw.decode("utf-8", errors="replace")

    async def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        status, text = await self._request(method, path, json.dumps(body or {}, separators=(",", ":")),
                                           "application/json")
        try:
            answer = json.loads(text) if text.strip() else {}
        except ValueError:
            raise TerminalError(Failure.BAD_REPLY, f"{path.split('?')[0]}: HTTP {status}, not JSON") from None
        if not isinstance(answer, dict):
            raise TerminalError(Failure.BAD_REPLY, f"{path.split('?')[0]}: HTTP {status}, not a JSON object")
        code = answer.get("statusCode")
        if status >= 400 or (code is not None and code != 1):
            sub = answer.get("subStatusCode")
            sub_status = sub[:64] if isinstance(sub, str) else None
            raise TerminalError(Failure.REFUSED, f"{path.split('?')[0]}: HTTP {status}, {sub_status or code}",
                                sub_status)
        return answer

    async def put_person(self, user_info: dict[str, Any]) -> None:
        """Add the person, or change them when the terminal already has that employeeNo."""
        try:
            await self._json("POST", "/ISAPI/AccessControl/UserInfo/Record?format=json", {"UserInfo": user_info})
        except TerminalError as error:
            if error.sub_status != "employeeNoAlreadyExist":
                raise
            await self._json("PUT", "/ISAPI/AccessControl/UserInfo/Modify?format=json", {"UserInfo": user_info})

    async def delete_persons(self, employee_nos: list[str]) -> None:
        """Deleting a person deletes their cards and face on the terminal too."""
        body = {"UserInfoDelCond": {"EmployeeNoList": [{"employeeNo": number} for number in employee_nos]}}
        await self._json("PUT", "/ISAPI/AccessControl/UserInfo/Delete?format=json", body)

    async def put_card(self, employee_no: str, card_no: str) -> None:
        card = {"employeeNo": employee_no, "cardNo": card_no, "cardType": "normalCard"}
        try:
            await self._json("POST", "/ISAPI/AccessControl/CardInfo/Record?format=json", {"CardInfo": card})
        except TerminalError as error:
            if error.sub_status != "cardNoAlreadyExist":
                raise
            await self._json("PUT", "/ISAPI/AccessControl/CardInfo/Modify?format=json", {"CardInfo": card})

    async def delete_cards(self, card_nos: list[str]) -> None:
        body = {"CardInfoDelCond": {"CardNoList": [{"cardNo": number} for number in card_nos]}}
        await self._json("PUT", "/ISAPI/AccessControl/CardInfo/Delete?format=json", body)

    async def set_week_plan(self, number: int, body: dict[str, Any]) -> None:
        await self._json("PUT", f"/ISAPI/AccessControl/UserRightWeekPlanCfg/{number}?format=json", body)

    async def set_plan_template(self, number: int, body: dict[str, Any]) -> None:
        await self._json("PUT", f"/ISAPI/AccessControl/UserRightPlanTemplate/{number}?format=json", body)

    async def person_count(self) -> int:
        answer = await self._json("GET", "/ISAPI/AccessControl/UserInfo/Count?format=json")
        count = answer.get("UserInfoCount", {}).get("userNumber") if isinstance(answer.get("UserInfoCount"),
                                                                                 dict) else None
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise TerminalError(Failure.BAD_REPLY, "UserInfo/Count: no userNumber")
        return count

    async def search_events(self, condition: dict[str, Any]) -> dict[str, Any]:
        """One page of the terminal's stored events (:func:`bridges.hikvision.read_back.search_condition`)."""
        return await self._json("POST", "/ISAPI/AccessControl/AcsEvent?format=json", condition)

    async def open_door(self, door: int) -> None:
        """``RemoteControl/door/{door}`` with ``<cmd>open</cmd>``; the answer is an XML ``ResponseStatus``."""
        status, text = await self._request("PUT", f"/ISAPI/AccessControl/RemoteControl/door/{door}", OPEN_DOOR_XML,
                                           "application/xml")
        code = _XML_STATUS.search(text)
        if code is None:
            raise TerminalError(Failure.BAD_REPLY, f"RemoteControl/door: HTTP {status}, no statusCode")
        if status >= 400 or code.group(1) != "1":
            sub = _XML_SUB_STATUS.search(text)
            sub_status = sub.group(1).strip() if sub else None
            raise TerminalError(Failure.REFUSED, f"RemoteControl/door: HTTP {status}, {sub_status or code.group(1)}",
                                sub_status)
