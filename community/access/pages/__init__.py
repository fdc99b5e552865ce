"""The property manager's access console and the residents' access pages, rendered on the server.

Managers (property manager; admin passes every guard), under /access/console: the console — the gates as a grid
(online, last event, whitelist sync), open alarms to acknowledge or resolve, today's entries per gate read from the
time series, and the live feed: the newest events are on the page, newer ones arrive over Server-Sent Events as rows
rendered on the server, which webkit/static/live-feed.js puts on top (without JavaScript a reload shows them).
Remote open (a form, a confirmation step, then the outcome, which the gate's ack decides: the page refreshes while it
waits), the access-log search, the alarm list with its history. The compound's register: buildings and their units
(by entrance, a page at a time), residents (searched, moved in, their access groups, moved out or revoked after a
confirmation) and their credentials (enrolled, shown by hint, revoked after a confirmation); its forms are checked
by the API's own request models, each reason next to its field. Supervisors read the buildings and units only.

Residents, under /access/my: my unit (household with masked phones, my credentials by their hints only), my
visitors (revoke), invite a visitor → the pass with its QR code as inline SVG, to show on a phone or print.

Handlers call :class:`AccessService` directly (no HTTP to the JSON API); a refusal comes back as a message on the
page. Times are shown in Asia/Shanghai. Within the account's scope: the console's community chooser offers the
communities assigned to the account, and another community's id (community, alarm, remote open, visitor pass,
building, resident, credential) gets the same 404 page as an unknown one; a resident's pages need their account
assigned their community.

* what the pages share: `words` (the domain's values in Chinese), `people` (names of residents, visitors and
  accounts), `entries` (today's entries per gate from the time series), `context` (the app's state, the clock,
  rendering, paths and roles, form values);
* the manager's pages: `scope` (which community), `rows` (events, alarms, remote opens as drawn), `console` (with
  the live feed), `log_search`, `alarms`, `remote_open`, `compound_import` (a compound from a spreadsheet);
  the register: `buildings` (buildings and units), `resident_register` (residents), `credential_forms`;
* doors and permissions (supervisors read the groups and gates): `groups` with `group_form` (access groups, their
  doors and weekly windows), `gates` (gates, their sync state, registering one, a resync), `visitor_passes` (the
  community's visitor passes, revoking one);
* the residents' pages: `residents` (who is signed in, their doors), `my_unit`, `visitors` (passes, invitations).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from aiohttp import web

from community.access.live_stream import end_streams_at_shutdown
from community.access.pages.alarms import acknowledge_alarm, alarms_page, resolve_alarm
from community.access.pages.buildings import BUILDINGS, UNITS, add_building, add_unit, building_page, buildings_page
from community.access.pages.compound_import import (
    IMPORT,
    SHELF,
    UploadShelf,
    confirm_import,
    csv_template_page,
    import_page,
    upload_form,
    xlsx_template_page,
)
from community.access.pages.console import console, console_live
from community.access.pages.context import CONSOLE, MANAGERS, MINE, PAGES, RESIDENTS, AccessPages
from community.access.pages.credential_forms import enrol_credential, revoke_credential
from community.access.pages.entries import RECOUNT_AFTER, EntryCounter, TodayEntries
from community.access.pages.gates import gate_page, gates_page, register_gate, resync_gates
from community.access.pages.groups import add_group, change_group, group_page, groups_page
from community.access.pages.log_search import access_log_page
from community.access.pages.my_unit import my_unit
from community.access.pages.people import People
from community.access.pages.remote_open import remote_open_form, remote_open_page, remote_open_result
from community.access.pages.resident_register import (
    RESIDENT_LIST,
    move_in,
    move_out,
    resident_list_page,
    resident_page,
    revoke_resident,
    set_groups,
)
from community.access.pages.visitor_passes import passes_page, revoke_confirm_page, revoke_visitor_pass
from community.access.pages.visitors import invite, invite_page, my_visitors, pass_page, read_invitation, revoke_pass
from community.access.pages.words import WORDS, window_text
from community.access.service import AccessService
from gateway.outputs import TimeSeriesStore
from webkit.context_app import ContextApp
from webkit.identity import Role
from webkit.pages import NavLink, add_navigation, add_templates

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates"


def mount_access_pages(app: web.Application, service: AccessService, store: TimeSeriesStore, *,
                       recount_after: timedelta = RECOUNT_AFTER) -> web.Application:
    """The access console (property managers) and the residents' access pages, served from their own
    sub-application of ``app`` at /access (call accounts.pages.mount_pages on ``app`` first); returns it.
    ``store`` is the gateway's time-series store, read for today's entries per gate."""
    pages = ContextApp("/access")
    pages.app[PAGES] = AccessPages(service, store, EntryCounter(store, recount_after), People(service))
    pages.app[SHELF] = UploadShelf()
    end_streams_at_shutdown(pages.app, service.feed)
    add_templates(app, TEMPLATE_DIR)
    add_navigation(app, NavLink("门禁管理", CONSOLE, MANAGERS, "实时动态、告警、远程开门、通行记录"))
    add_navigation(app, NavLink("我的门禁", MINE, RESIDENTS, "我的住户信息、邀请访客"))
    add_navigation(app, NavLink("门禁设备与权限", CONSOLE + "/gates", (Role.SUPERVISOR,),
                                "门禁在线与白名单同步、权限组（只读）"))
    pages.add_get(CONSOLE, console)
    pages.add_get(CONSOLE + "/live", console_live)
    pages.add_get(CONSOLE + "/log", access_log_page)
    pages.add_get(CONSOLE + "/alarms", alarms_page)
    pages.add_post(CONSOLE + "/alarms/{number}/acknowledge", acknowledge_alarm)
    pages.add_post(CONSOLE + "/alarms/{number}/resolve", resolve_alarm)
    pages.add_get(CONSOLE + "/open", remote_open_page)
    pages.add_post(CONSOLE + "/open", remote_open_form)
    pages.add_get(CONSOLE + "/open/{cmd_id}", remote_open_result)
    pages.add_get(IMPORT, import_page)
    pages.add_post(IMPORT, upload_form)
    pages.add_post(IMPORT + "/confirm", confirm_import)
    pages.add_get(IMPORT + "/template.csv", csv_template_page)
    pages.add_get(IMPORT + "/template.xlsx", xlsx_template_page)
    pages.add_get(BUILDINGS, buildings_page)
    pages.add_post(BUILDINGS, add_building)
    pages.add_get(BUILDINGS + "/{building_id}", building_page)
    pages.add_post(UNITS, add_unit)
    pages.add_get(RESIDENT_LIST, resident_list_page)
    pages.add_post(RESIDENT_LIST, move_in)
    pages.add_get(RESIDENT_LIST + "/{resident_id}", resident_page)
    pages.add_post(RESIDENT_LIST + "/{resident_id}/groups", set_groups)
    pages.add_post(RESIDENT_LIST + "/{resident_id}/move-out", move_out)
    pages.add_post(RESIDENT_LIST + "/{resident_id}/revoke", revoke_resident)
    pages.add_post(RESIDENT_LIST + "/{resident_id}/credentials", enrol_credential)
    pages.add_post(CONSOLE + "/credentials/{credential_id}/revoke", revoke_credential)
    pages.add_get(CONSOLE + "/groups", groups_page)
    pages.add_post(CONSOLE + "/groups", add_group)
    pages.add_get(CONSOLE + "/groups/{group_id}", group_page)
    pages.add_post(CONSOLE + "/groups/{group_id}", change_group)
    pages.add_get(CONSOLE + "/gates", gates_page)
    pages.add_post(CONSOLE + "/gates", register_gate)
    pages.add_post(CONSOLE + "/gates/resync", resync_gates)
    pages.add_get(CONSOLE + "/gates/{gate_id}", gate_page)
    pages.add_get(CONSOLE + "/visitors", passes_page)
    pages.add_get(CONSOLE + "/visitors/{pass_id}/revoke", revoke_confirm_page)
    pages.add_post(CONSOLE + "/visitors/{pass_id}/revoke", revoke_visitor_pass)
    pages.add_get(MINE, my_unit)
    pages.add_get(MINE + "/visitors", my_visitors)
    pages.add_get(MINE + "/visitors/new", invite_page)
    pages.add_post(MINE + "/visitors", invite)
    pages.add_get(MINE + "/visitors/{pass_id}", pass_page)
    pages.add_post(MINE + "/visitors/{pass_id}/revoke", revoke_pass)
    return pages.attach(app)


__all__ = ["PAGES", "WORDS", "AccessPages", "EntryCounter", "TodayEntries", "mount_access_pages", "read_invitation",
           "window_text"]
