"""What every access page shares: what the app holds for them (the service, the time-series store, the counter of
today's entries, the names of people), the clock, rendering with the words and the tabs, the pages' roles and paths,
and two form values (a door as gate:number, a Shanghai wall-clock time).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from community.access.pages.entries import EntryCounter
from community.access.pages.people import People
from community.access.pages.words import WORDS
from community.access.service import AccessService
from gateway.outputs import TimeSeriesStore
from webkit.auth import CLOCK
from webkit.formatting import SHANGHAI
from webkit.identity import Role
from webkit.pages import render

MANAGERS = (Role.PROPERTY_MANAGER,)
READERS = (Role.PROPERTY_MANAGER, Role.SUPERVISOR)
"""Who reads a community's gates and access groups (a supervisor reads them, as in the API, and changes nothing)."""
RESIDENTS = (Role.RESIDENT,)
CONSOLE = "/access/console"
MINE = "/access/my"

_DOOR_VALUE = re.compile(r"^([A-Za-z0-9_-]{1,64}):([0-9]{1,4})$")


@dataclass
class AccessPages:
    service: AccessService
    store: TimeSeriesStore
    entries: EntryCounter
    people: People


PAGES = web.AppKey("access_pages", AccessPages)


def _pages(request: web.Request) -> AccessPages:
    return request.app[PAGES]


def _now(request: web.Request) -> datetime:
    return request.config_dict[CLOCK]()


@dataclass(frozen=True)
class Tab:
    label: str
    href: str
    current: bool


async def _render(request: web.Request, template: str, context: Mapping[str, Any], *, tabs: Sequence[Tab] = (),
                  status: int = 200) -> web.Response:
    return await render(request, template, {"w": WORDS, "tabs": tabs, **context}, status=status)


def _local_input(moment: datetime) -> str:
    """An aware time as the value of a datetime-local field (Shanghai wall clock)."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def _from_local_input(text: str) -> datetime:
    """A datetime-local field's value (Shanghai wall clock); ValueError outside 2000..2099 (the contract's)."""
    moment = datetime.fromisoformat(text)
    if not 2000 <= moment.year <= 2099:
        raise ValueError(f"{moment.year} is out of range")
    return moment.replace(tzinfo=SHANGHAI) if moment.tzinfo is None else moment
