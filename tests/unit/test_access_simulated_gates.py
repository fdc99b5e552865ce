"""The simulated gates as the access platform sees them: their state reports the whitelist they hold, visitors with a
valid signed pass are admitted, and a face terminal reports the face template's reference — never the person's id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from devices.contract import AccessMethod, Command, DeviceState, GateEvent, GateEventKind
from devices.gate_commands import CredentialKind, GateStateReport, presented_credential_hash
from devices.gate_memory import canonical_hash
from devices.simulator import GateKeys, TrafficGenerator
from devices.topics import DeviceKind
from gateway.processors.decoding import Accepted, decode

SITE_KEY = b"k" * 32
PASS_KEY = b"p" * 32
START = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
ALL_WEEK = [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00:00", "end": "00:00:00"}]


def synced_generator(**keys: Any) -> tuple[TrafficGenerator, str]:
    """One simulated gate holding a list on which every resident's card and face opens every door."""
    generator = TrafficGenerator("compound", gates=1, scales=0, seed=7, gate_keys=GateKeys(SITE_KEY, **keys))
    [gate] = generator.community_roster()
    grant = [{"group": "residents", "doors": list(range(1, gate.doors + 1)), "windows": ALL_WEEK}]
    entries = [{"hash": presented_credential_hash(CredentialKind.CARD, r.card, SITE_KEY), "kind": "card",
                "grants": grant} for r in gate.residents]
    entries += [{"hash": presented_credential_hash(CredentialKind.FACE, r.face_ref, SITE_KEY), "kind": "face",
                 "grants": grant} for r in gate.residents if r.face_enrolled]
    whitelist = {"gate": gate.gate_id, "entries": sorted(entries, key=lambda e: e["hash"]), "blacklist": []}
    command = Command(cmd_id="sync-1", op="sync_whitelist",
                      args={"version": 1, "content_hash": canonical_hash(whitelist), "whitelist": whitelist})
    ack = generator.answer(DeviceKind.GATE, gate.gate_id, command.model_dump_json().encode(), START)
    assert ack is not None and b'"ok":true' in ack.payload
    return generator, gate.gate_id


def state_of(generator: TrafficGenerator, gate_id: str, online: bool = True) -> DeviceState:
    message = generator.state_message(DeviceKind.GATE, gate_id, online, START)
    decoded = decode(message.topic, message.payload)
    assert isinstance(decoded, Accepted) and isinstance(decoded.message, DeviceState)
    return decoded.message


def events(generator: TrafficGenerator, count: int) -> list[GateEvent]:
    found = []
    for step in range(count):
        decoded = decode((message := generator.next_message(START + timedelta(seconds=step))).topic,
                         message.payload)
        assert isinstance(decoded, Accepted)
        if isinstance(decoded.message, GateEvent):
            found.append(decoded.message)
    return found


def test_a_gates_state_reports_the_whitelist_it_holds_as_the_contract_says() -> None:
    fresh = TrafficGenerator("compound", gates=1, scales=0, seed=7, gate_keys=GateKeys(SITE_KEY, PASS_KEY))
    empty = state_of(fresh, "gate-01")
    assert empty.model_extra == {"whitelist_version": None, "whitelist_hash": None}, "holds nothing, and says so"
    generator, gate_id = synced_generator(pass_key=PASS_KEY)
    report = GateStateReport.model_validate(state_of(generator, gate_id).model_extra)
    assert report.whitelist_version == 1 and report.whitelist_hash is not None
    assert not state_of(generator, gate_id, online=False).model_extra, "the last will carries no report"


def test_a_synced_gate_admits_visitors_with_a_valid_pass_for_its_doors() -> None:
    generator, _ = synced_generator(pass_key=PASS_KEY)
    visitors = [e for e in events(generator, 4000) if e.method is AccessMethod.QR and e.kind is GateEventKind.GRANTED]
    assert len(visitors) >= 5, "the demo shows visitor entries"
    assert all(e.credential is not None and e.credential.startswith("vp-") for e in visitors), "the pass id, not text"
    assert len({e.credential for e in visitors}) == len(visitors), "each visitor their own pass"


def test_a_gate_without_the_pass_key_admits_no_visitor() -> None:
    generator, _ = synced_generator()
    assert not [e for e in events(generator, 2000) if e.method is AccessMethod.QR and e.kind is GateEventKind.GRANTED]


def test_a_face_terminal_reports_the_template_reference_never_the_person_id() -> None:
    generator, _ = synced_generator(pass_key=PASS_KEY)
    [gate] = generator.community_roster()
    people = {r.person_id for r in gate.residents}
    references = {r.face_ref for r in gate.residents if r.face_enrolled}
    faces = [e for e in events(generator, 3000) if e.method is AccessMethod.FACE]
    assert faces and all(e.credential in references for e in faces)
    assert not people & references and all(len(reference) > 4 for reference in references)
    unsynced = TrafficGenerator("compound", gates=1, scales=0, seed=3)
    [plain] = unsynced.community_roster()
    random_faces = [e for e in events(unsynced, 3000) if e.method is AccessMethod.FACE]
    assert random_faces and not {e.credential for e in random_faces} & {r.person_id for r in plain.residents}
