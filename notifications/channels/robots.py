"""The group robots Chinese offices use, in their documented message formats:

* WeCom (企业微信) group robot: POST to the robot's webhook URL (``https://qyapi.weixin.qq.com/cgi-bin/webhook/send
  ?key=...``) a ``{"msgtype": "markdown", "markdown": {"content": ...}}``; it answers ``{"errcode": 0, ...}``.
* DingTalk (钉钉) custom robot: POST to ``https://oapi.dingtalk.com/robot/send?access_token=...`` — with the
  "加签" security setting, ``&timestamp=<ms>&sign=<Base64 HMAC-SHA256 of "timestamp\\nsecret">`` appended — a
  ``{"msgtype": "markdown", "markdown": {"title": ..., "text": ...}}``; it answers ``{"errcode": 0, ...}``.

A robot that answers 200 with another errcode (a wrong key, a bad signature, a rate limit) failed the attempt."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime

from notifications.channels import DeliveryFailed, Outgoing, plain_text
from notifications.channels.webhook import HttpPoster
from notifications.events import Severity
from notifications.signing import IDEMPOTENCY_HEADER, dingtalk_sign

ROBOT_TEXT_BYTES = 4000
"""WeCom takes at most 4096 bytes of markdown; DingTalk's limit is larger: one bound for both."""


def _markdown(outgoing: Outgoing) -> str:
    event = outgoing.event
    heading = f"### {'🚨 ' if event.severity is Severity.CRITICAL else ''}{event.title}"
    body = "\n".join(f"> {line}" for line in plain_text(event).splitlines()[1:])
    text = f"{heading}\n{body}"
    while len(text.encode()) > ROBOT_TEXT_BYTES:
        text = text[: len(text) - 100]
    return text


async def _post_robot(poster: HttpPoster, url: str, document: Mapping[str, object], key: str) -> None:
    body = json.dumps(document, ensure_ascii=False).encode()
    status, answer = await poster.post(url, body, {"Content-Type": "application/json; charset=utf-8",
                                                   IDEMPOTENCY_HEADER: key})
    if not 200 <= status < 300:
        raise DeliveryFailed(f"robot answered HTTP {status}")
    try:
        errcode = json.loads(answer).get("errcode")
    except (ValueError, AttributeError):
        raise DeliveryFailed("robot answered something other than JSON") from None
    if errcode != 0:
        raise DeliveryFailed(f"robot refused: errcode {errcode}")


class WeComSender:
    def __init__(self, poster: HttpPoster) -> None:
        self._poster = poster

    async def send(self, outgoing: Outgoing) -> None:
        document = {"msgtype": "markdown", "markdown": {"content": _markdown(outgoing)}}
        await _post_robot(self._poster, outgoing.address, document, outgoing.idempotency_key)


class DingTalkSender:
    def __init__(self, poster: HttpPoster, clock: Callable[[], datetime]) -> None:
        self._poster = poster
        self._clock = clock

    def signed_url(self, url: str, secret: str) -> str:
        if not secret:
            return url
        timestamp = int(self._clock().timestamp() * 1000)
        return f"{url}{'&' if '?' in url else '?'}timestamp={timestamp}&sign={dingtalk_sign(secret, timestamp)}"

    async def send(self, outgoing: Outgoing) -> None:
        document = {"msgtype": "markdown",
                    "markdown": {"title": outgoing.event.title[:64], "text": _markdown(outgoing)}}
        await _post_robot(self._poster, self.signed_url(outgoing.address, outgoing.secret), document,
                          outgoing.idempotency_key)
