"""What the bridge must not forget about a controller, in one JSON file per controller under ``state_dir``.

The last event index published and its epoch (so no event is published twice or skipped across restarts), the
whitelist the gate holds (version, hash, content: restored at start, so the platform need not send it again), the
card numbers learnt from swipes, and what was loaded into the controller (to put only what changed, and to notice a
controller that lost it). Written whole to a temporary file, flushed and renamed: a crash leaves the old or the new
file, never half of one. Mode 0600: it holds card numbers, as the controller itself does.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from bridges.uhppote.cards import CardRecord
from bridges.uhppote.event_log import EventCursor


@dataclass
class ControllerMemo:
    cursor: EventCursor = field(default_factory=EventCursor)
    whitelist: dict[str, Any] | None = None  # {"version", "content_hash", "content"}
    learnt_cards: list[int] = field(default_factory=list)
    loaded_cards: dict[int, CardRecord] = field(default_factory=dict)
    loaded_profiles: dict[int, str] = field(default_factory=dict)  # profile id → digest of what was set
    last_fingerprint: str | None = None  # the last published event, to tell it from another one at its index


class ControllerStore:
    def __init__(self, directory: Path, serial: int) -> None:
        self.path = directory / f"controller-{serial}.json"

    def load(self) -> ControllerMemo:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return ControllerMemo()
        cursor = EventCursor(int(raw["epoch"]), None if raw["last"] is None else int(raw["last"]))
        cards = {int(number): CardRecord(int(number), date.fromisoformat(start), date.fromisoformat(end),
                                         (doors[0], doors[1], doors[2], doors[3]))
                 for number, (start, end, doors) in raw.get("loaded_cards", {}).items()}
        return ControllerMemo(cursor, raw.get("whitelist"), [int(n) for n in raw.get("learnt_cards", [])], cards,
                              {int(key): str(value) for key, value in raw.get("loaded_profiles", {}).items()},
                              raw.get("last_fingerprint"))

    def save(self, memo: ControllerMemo) -> None:
        body = {
            "epoch": memo.cursor.epoch,
            "last": memo.cursor.last,
            "whitelist": memo.whitelist,
            "learnt_cards": sorted(memo.learnt_cards),
            "loaded_cards": {str(number): [card.start.isoformat(), card.end.isoformat(), list(card.doors)]
                             for number, card in sorted(memo.loaded_cards.items())},
            "loaded_profiles": {str(key): value for key, value in sorted(memo.loaded_profiles.items())},
            "last_fingerprint": memo.last_fingerprint,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(body, file, separators=(",", ":"))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)
