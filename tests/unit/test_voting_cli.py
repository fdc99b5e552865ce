"""`smartcity votes verify --from FILE`: a recount from a downloaded record, without any database — clean records
pass, any discrepancy exits 1, a file that is no record is refused with a message — and ratios printed exactly as the
result page shows them."""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from community.voting.verification import record_document
from smartcity.cli import main
from smartcity.vote_records import ratio_text
from tests.unit.test_voting_verification import DELEGATION, honest


def test_a_ratio_is_printed_exactly_as_the_pages_round_it() -> None:
    # 23/160 = 14.375 %: rounded half-even to 14.38 %, where the float 0.14375 prints as 14.37 %
    assert ratio_text(Fraction(23, 160)) == "23/160 (14.38%)"
    assert ratio_text(Fraction(2, 3)) == "2/3 (66.67%)"
    assert ratio_text(Fraction(1)) == "1/1 (100.00%)"


def write(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "record.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def verify_from(path: Path, *extra: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    # no database to be had: the recount must not need one
    monkeypatch.setenv("SC_DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:1/nothing")
    return CliRunner().invoke(main, ["votes", "verify", *extra, "--from", str(path)])


def test_a_clean_record_verifies_from_the_file_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = verify_from(write(tmp_path, record_document(honest())), "p-lifts", monkeypatch=monkeypatch)

    assert result.exit_code == 0, result.output
    assert "hash chain intact" in result.output and "log: 3 ballots, 1 delegations" in result.output
    assert "(the log begins there)" in result.output and "recount matches it" in result.output
    assert "headcount 3/4 (75.00%)" in result.output and "PASSED" in result.output


def tampered(change: str) -> dict[str, Any]:
    document = record_document(honest())
    if change == "area":
        document["roll"]["units"][0]["area_m2"] = "189.37"
    elif change == "owners":
        document["roll"]["units"][2]["owner_ids"] = ["sun", "mallory"]
    elif change == "matter":
        document["proposal"]["matter"] = "raising_of_maintenance_funds"
    elif change == "inserted delegation":
        document["delegations"].append({"unit_id": "2-201", "delegate_id": "mallory", "granted_by": "sun"})
    elif change == "removed delegation":
        document["delegations"] = []
    elif change == "ballot":
        document["chain"][1]["choice"] = "oppose"
    elif change == "dropped ballot":
        document["chain"].pop()
    elif change == "result":
        document["published"]["result"]["passed"] = False
    return document


@pytest.mark.parametrize(("change", "shows"), [
    ("area", "roll_mismatch"),
    ("owners", "roll_mismatch"),
    ("matter", "roll_mismatch"),
    ("inserted delegation", "delegation_not_in_log"),
    ("removed delegation", "delegation_not_on_record"),
    ("ballot", "altered_entry"),
    ("dropped ballot", "head_mismatch"),
    ("result", "DIFFERS in passed"),
])
def test_any_discrepancy_in_the_record_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str,
                                              shows: str) -> None:
    result = verify_from(write(tmp_path, tampered(change)), monkeypatch=monkeypatch)

    assert result.exit_code == 1, result.output
    assert shows in result.output


def test_a_file_that_is_no_record_is_refused_with_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for text in ("not json", "[]", json.dumps({**record_document(honest()), "roll": None})):
        path = tmp_path / "bad.json"
        path.write_text(text, encoding="utf-8")
        result = verify_from(path, monkeypatch=monkeypatch)
        assert result.exit_code == 1 and "not a vote record that can be recounted" in result.output, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
    other = verify_from(write(tmp_path, record_document(honest())), "p-other", monkeypatch=monkeypatch)
    assert other.exit_code == 1 and "not 'p-other'" in other.output


def test_verify_needs_a_proposal_or_a_file() -> None:
    result = CliRunner().invoke(main, ["votes", "verify"])
    assert result.exit_code == 2 and "--from FILE" in result.output


def test_a_legacy_record_verifies_and_says_its_roll_is_not_anchored(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from community.voting.audit import append_entry, ballot_entries

    record = honest(published=False)
    chain = []
    for entry in ballot_entries(record.chain):
        chain.append(append_entry(chain[-1] if chain else None, entry.ballot, entry.cast_at))
    legacy = replace(record, chain=tuple(chain), log_anchored=False, delegations=(DELEGATION,))

    result = verify_from(write(tmp_path, record_document(legacy)), monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert "begun before roll anchoring" in result.output


def test_before_publication_the_file_is_a_hash_chain_and_its_links_are_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from community.voting.disclosure import disclosed_document

    document = disclosed_document(honest(published=False))
    result = verify_from(write(tmp_path, document), "p-lifts", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert "result not published yet" in result.output and "log: 4 entries" in result.output
    assert "links intact" in result.output and "PASSED" not in result.output and "participation" not in result.output

    document["chain"][2]["previous_hash"] = "f" * 64
    broken = verify_from(write(tmp_path, document), monkeypatch=monkeypatch)
    assert broken.exit_code == 1 and "links BROKEN (1 problems)" in broken.output and "broken_link" in broken.output


def test_since_an_earlier_copy_the_log_must_only_have_grown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from community.voting.disclosure import disclosed_document

    early = replace(honest(published=False), chain=honest().chain[:2])
    earlier = tmp_path / "earlier.json"
    earlier.write_text(json.dumps(disclosed_document(early)), encoding="utf-8")
    grown = verify_from(write(tmp_path, record_document(honest())), "--since", str(earlier), monkeypatch=monkeypatch)
    assert grown.exit_code == 0, grown.output
    assert "recount matches it" in grown.output and "(2 entries): the log only grew" in grown.output

    rewritten = replace(honest(), chain=(honest().chain[0], *honest().chain[2:]))
    cut = verify_from(write(tmp_path, record_document(rewritten)), "--since", str(earlier), monkeypatch=monkeypatch)
    assert cut.exit_code == 1 and "the log was REWRITTEN" in cut.output and "rewritten at entry 2" in cut.output

    alone = CliRunner().invoke(main, ["votes", "verify", "--since", str(earlier)])
    assert alone.exit_code == 2 and "--from FILE" in alone.output
