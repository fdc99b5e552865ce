"""What the bridge must not forget about a terminal, in one JSON file per terminal under ``state_dir``.

The whitelist the gate holds (version, hash, content: restored at start, so the platform need not send it again),
the credentials learnt from events, the events forwarded lately (where the next read-back of stored events starts,
and which it skips), and what was written to the terminal (persons, cards, templates: to write only
what changed and to notice a terminal that lost it). Written whole to a temporary file, flushed and renamed; mode
0600: it holds card numbers, as the terminal itself does.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bridges.hikvision.read_back import ForwardedLog


@dataclass
class TerminalMemo:
    whitelist: dict[str, Any] | None = None  # {"version", "content_hash", "content"}
    learnt: list[tuple[str, str]] = field(default_factory=list)  # (kind, card number or face reference)
    persons: dict[str, str] = field(default_factory=dict)  # employeeNo → digest of what was written
    cards: dict[str, str] = field(default_factory=dict)  # cardNo → employeeNo
    templates: dict[int, str] = field(default_factory=dict)  # template number → digest of its week plan
    forwarded: ForwardedLog = field(default_factory=ForwardedLog)  # where the next read-back starts, what it skips


class TerminalStore:
    def __init__(self, directory: Path, gate: str) -> None:
        self.path = directory / f"terminal-{gate}.json"

    def load(self) -> TerminalMemo:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return TerminalMemo()
        return TerminalMemo(
            raw.get("whitelist"), [(str(kind), str(value)) for kind, value in raw.get("learnt", [])],
            {str(key): str(value) for key, value in raw.get("persons", {}).items()},
            {str(key): str(value) for key, value in raw.get("cards", {}).items()},
            {int(key): str(value) for key, value in raw.get("templates", {}).items()},
            _forwarded(raw.get("forwarded")))

    def save(self, memo: TerminalMemo) -> None:
        body = {"whitelist": memo.whitelist, "learnt": sorted(memo.learnt),
                "persons": dict(sorted(memo.persons.items())), "cards": dict(sorted(memo.cards.items())),
                "templates": {str(key): value for key, value in sorted(memo.templates.items())},
                "forwarded": {"watermark": _iso(memo.forwarded.watermark),
                              "ids": {key: at.isoformat() for key, at in memo.forwarded.ids.items()}}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(body, file, separators=(",", ":"))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _forwarded(raw: Any) -> ForwardedLog:
    if not isinstance(raw, dict):
        return ForwardedLog()  # a file from before the read-back: the next contact is the first
    watermark = raw.get("watermark")
    return ForwardedLog(None if watermark is None else datetime.fromisoformat(watermark),
                        {str(key): datetime.fromisoformat(at) for key, at in raw.get("ids", {}).items()})
