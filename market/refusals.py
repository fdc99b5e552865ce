"""A refusal of one field of what was typed or sent, with its reason in words for the API and for a person; the
domain's checks answer lists of them, so the API can name the field and a page can show the reason next to it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    """What is wrong with ``field`` (a dotted path for a list's item: ``certificates.1.kind``)."""

    field: str
    message: str
    message_zh: str
