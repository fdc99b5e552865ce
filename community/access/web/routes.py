"""The access API's route table: each route's handler, schemas, roles and errors, so /openapi.json describes
exactly what is served. Every handler is wrapped so the service's refusals come back as 4xx.

Every route answers within the caller's scope (`handling`): another community's id is an unknown id (404), listings
hold the caller's communities only. Supervisors (READERS) read the operational routes and write nothing.
"""

from __future__ import annotations

from dataclasses import replace

from community.access.web.alarms import acknowledge_alarm, list_alarms, resolve_alarm
from community.access.web.compound_import import (
    AccessCompoundImportIn,
    AccessImportOut,
    csv_template,
    import_compound,
    xlsx_template,
)
from community.access.web.credentials import enroll, list_credentials, revoke_credential
from community.access.web.directory import (
    add_building,
    add_resident,
    add_unit,
    create_community,
    get_resident,
    get_unit,
    list_buildings,
    list_communities,
    list_residents,
    me,
    move_out,
    revoke_resident,
    set_groups,
)
from community.access.web.events import list_events, presence
from community.access.web.gates import add_gate, get_gate, get_whitelist, list_gates, list_groups, put_group
from community.access.web.handling import MANAGERS, PEOPLE, READERS, _translated
from community.access.web.live import live
from community.access.web.remote_open import get_remote_open, list_remote_opens, open_door
from community.access.web.schemas import (
    AccessAlarmOut,
    AccessAlarmsOut,
    AccessBuildingIn,
    AccessBuildingOut,
    AccessBuildingsOut,
    AccessCommunitiesOut,
    AccessCommunityIn,
    AccessCommunityOut,
    AccessCredentialIn,
    AccessCredentialOut,
    AccessCredentialsOut,
    AccessEventsOut,
    AccessGateIn,
    AccessGateOut,
    AccessGatesOut,
    AccessGroupIn,
    AccessGroupOut,
    AccessGroupsIn,
    AccessGroupsOut,
    AccessMeOut,
    AccessNoteIn,
    AccessOpenIn,
    AccessPassesOut,
    AccessPassIn,
    AccessPassOut,
    AccessPresenceOut,
    AccessRemoteOpenOut,
    AccessRemoteOpensOut,
    AccessResidentIn,
    AccessResidentOut,
    AccessResidentsOut,
    AccessUnitIn,
    AccessUnitOut,
    AccessWhitelistOut,
)
from community.access.web.visitors import get_pass, invite, list_passes, pass_qr, revoke_pass
from webkit.identity import Role
from webkit.openapi import LIMIT, QueryParam, Route

C = "/api/access/communities/{community_id}"
COMMUNITY_ID = QueryParam("community_id", description="The community (managers)")
GATE_ID = QueryParam("gate_id", description="Only this gate")
UNIT_ID = QueryParam("unit_id", description="Only this unit")
_ROUTES = [
    Route("POST", "/api/access/communities", create_community, "Register a community (小区) and its MQTT site "
          "(an administrator; or a property manager already assigned its id)",
          AccessCommunityIn, AccessCommunityOut, 201, MANAGERS, (400, 409, 422)),
    Route("GET", "/api/access/communities", list_communities, "The caller's communities", None,
          AccessCommunitiesOut, 200, READERS),
    Route("POST", C + "/buildings", add_building, "Add a building", AccessBuildingIn, AccessBuildingOut, 201,
          MANAGERS, (400, 404, 409, 422)),
    Route("GET", C + "/buildings", list_buildings, "The buildings", None, AccessBuildingsOut, 200, READERS, (404,)),
    Route("POST", C + "/units", add_unit, "Add a unit (房屋) with its exclusive area", AccessUnitIn, AccessUnitOut,
          201, MANAGERS, (400, 404, 409, 422)),
    Route("POST", C + "/import", import_compound, "Import a compound from a spreadsheet — buildings, units with "
          "their areas, owners and co-owners, residents with phones and cards — all or nothing: a dry run (the "
          "default) reports row by row what would be created, changed or refused; dry_run=false writes it. The body: "
          "a CSV or XLSX file (or a multipart form's `file`), or JSON rows as described",
          AccessCompoundImportIn, AccessImportOut, 200, MANAGERS, (400, 404, 413, 422),
          query=(QueryParam("dry_run", "boolean", "true (the default): report only; false: import"),)),
    Route("GET", C + "/import/template.csv", csv_template, "The compound import's template (CSV, UTF-8)", None, None,
          200, MANAGERS, (404,)),
    Route("GET", C + "/import/template.xlsx", xlsx_template, "The compound import's template (XLSX, with the "
          "columns explained)", None, None, 200, MANAGERS, (404,)),
    Route("GET", "/api/access/units/{unit_id}", get_unit, "A unit and its residents (phones masked)", None,
          AccessUnitOut, 200, PEOPLE, (404,)),
    Route("POST", C + "/residents", add_resident, "Register a resident (owner, family member, tenant)",
          AccessResidentIn, AccessResidentOut, 201, MANAGERS, (400, 404, 409, 422)),
    Route("GET", C + "/residents", list_residents, "The residents (phones masked)", None,
          AccessResidentsOut, 200, MANAGERS, (400, 404), query=(UNIT_ID,)),
    Route("GET", "/api/access/me", me, "The signed-in resident, their unit and credentials", None, AccessMeOut, 200,
          (Role.RESIDENT,)),
    Route("GET", "/api/access/residents/{resident_id}", get_resident, "A resident (phone masked)", None,
          AccessResidentOut, 200, PEOPLE, (404,)),
    Route("PUT", "/api/access/residents/{resident_id}/groups", set_groups, "Set a resident's access groups",
          AccessGroupsIn, AccessResidentOut, 200, MANAGERS, (400, 404, 422)),
    Route("POST", "/api/access/residents/{resident_id}/revoke", revoke_resident,
          "Revoke a resident: every credential and pass blacklisted on every gate they could open", None,
          AccessResidentOut, 200, MANAGERS, (404, 409, 422)),
    Route("POST", "/api/access/residents/{resident_id}/move-out", move_out,
          "A resident moves out: off every whitelist, no more resident access", None, AccessResidentOut, 200,
          MANAGERS, (404, 422)),
    Route("POST", "/api/access/residents/{resident_id}/credentials", enroll,
          "Enrol a card, PIN, face template reference or static QR (stored as a keyed hash)", AccessCredentialIn,
          AccessCredentialOut, 201, MANAGERS, (400, 404, 409, 422)),
    Route("GET", "/api/access/residents/{resident_id}/credentials", list_credentials,
          "A resident's credentials (hints only)", None, AccessCredentialsOut, 200, PEOPLE, (404,)),
    Route("POST", "/api/access/credentials/{credential_id}/revoke", revoke_credential,
          "Revoke a credential (a resident: their own, e.g. a lost card)", None, AccessCredentialOut, 200, PEOPLE,
          (404, 409, 422)),
    Route("POST", C + "/gates", add_gate, "Register a gate controller and its doors", AccessGateIn, AccessGateOut,
          201, MANAGERS, (400, 404, 409, 422)),
    Route("GET", C + "/gates", list_gates, "The gates with their whitelist sync state", None, AccessGatesOut, 200,
          READERS, (404,)),
    Route("GET", "/api/access/gates/{gate_id}", get_gate, "A gate and its whitelist sync state", None,
          AccessGateOut, 200, READERS, (404,)),
    Route("GET", "/api/access/gates/{gate_id}/whitelist", get_whitelist,
          "The whitelist the gate should hold (credential hashes)", None, AccessWhitelistOut, 200, MANAGERS, (404,)),
    Route("PUT", C + "/groups/{group_id}", put_group, "Create or change an access group: doors, weekly windows, "
          "validity", AccessGroupIn, AccessGroupOut, 200, MANAGERS, (400, 404, 409, 422)),
    Route("GET", C + "/groups", list_groups, "The access groups", None, AccessGroupsOut, 200, READERS, (404,)),
    Route("POST", "/api/access/passes", invite, "Invite a visitor: a signed QR pass (≤ 24 h, bounded uses) within "
          "the inviter's own doors, hours and validity, while they hold fewer active passes than allowed",
          AccessPassIn, AccessPassOut, 201, (Role.RESIDENT,), (400, 403, 404, 409, 422)),
    Route("GET", "/api/access/passes", list_passes,
          "Visitor passes: a resident's own; a manager's of a community", None, AccessPassesOut, 200, PEOPLE,
          (400, 404), query=(COMMUNITY_ID,)),
    Route("GET", "/api/access/passes/{pass_id}", get_pass, "A visitor pass (the QR text for its inviter)", None,
          AccessPassOut, 200, PEOPLE, (404,)),
    Route("GET", "/api/access/passes/{pass_id}/qr.svg", pass_qr, "The pass as a QR code (SVG), for its inviter",
          None, None, 200, PEOPLE, (404,)),
    Route("POST", "/api/access/passes/{pass_id}/revoke", revoke_pass, "Revoke a visitor pass", None, AccessPassOut,
          200, PEOPLE, (404, 409, 422)),
    Route("POST", "/api/access/gates/{gate_id}/doors/{door}/open", open_door,
          "Open a door remotely (audited); the outcome follows the gate's ack or the timeout", AccessOpenIn,
          AccessRemoteOpenOut, 202, MANAGERS, (400, 404, 422)),
    Route("GET", "/api/access/remote-opens/{cmd_id}", get_remote_open, "A remote open and its outcome", None,
          AccessRemoteOpenOut, 200, READERS, (404,)),
    Route("GET", C + "/remote-opens", list_remote_opens, "The remote-open audit, newest first", None,
          AccessRemoteOpensOut, 200, READERS, (400, 404), query=(GATE_ID, LIMIT)),
    Route("GET", "/api/access/events", list_events, "The access log, newest first, paginated (a manager's "
          "communities, or the one named; a resident sees their unit's)", None, AccessEventsOut, 200, PEOPLE,
          (400, 404),
          query=(COMMUNITY_ID, GATE_ID, QueryParam("door", "integer"), QueryParam("resident_id"),
                 QueryParam("kind", description="A gate event kind"),
                 QueryParam("since", description="RFC 3339 time with offset"),
                 QueryParam("until", description="RFC 3339 time with offset"), LIMIT,
                 QueryParam("cursor", description="The previous page's next_cursor"))),
    Route("GET", C + "/presence", presence, "Residents and visitors inside the compound", None, AccessPresenceOut,
          200, READERS, (404,)),
    Route("GET", C + "/alarms", list_alarms, "Alarms, newest first", None, AccessAlarmsOut, 200, READERS,
          (400, 404), query=(QueryParam("status", description="open, acknowledged or resolved"), GATE_ID,
                             QueryParam("kind", description="An alarm kind"), LIMIT)),
    Route("POST", "/api/access/alarms/{number}/acknowledge", acknowledge_alarm, "Acknowledge an open alarm",
          AccessNoteIn, AccessAlarmOut, 200, MANAGERS, (400, 404, 409, 422)),
    Route("POST", "/api/access/alarms/{number}/resolve", resolve_alarm, "Resolve an alarm, with a note",
          AccessNoteIn, AccessAlarmOut, 200, MANAGERS, (400, 404, 409, 422)),
    Route("GET", "/api/access/live", live, "Live feed (Server-Sent Events) of the caller's communities' events "
          "and alarms; each has an id, and a client reconnecting with Last-Event-ID gets what it missed, or a `gap` "
          "event", None, None, 200,
          MANAGERS, (503,), query=(QueryParam("gate_id", description="Only these gates", repeated=True),
                                   QueryParam("community_id", description="Only these communities", repeated=True))),
]
ROUTES = [replace(route, handler=_translated(route.handler)) for route in _ROUTES]
