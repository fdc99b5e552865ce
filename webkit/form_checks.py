"""A page's form checked by the API's own request model (a service's pydantic schema), so a page and the API take
and refuse the same input; what is wrong comes back per field, in words for the person who typed it, to be shown
next to that field while the form keeps what was typed (:class:`FormState`)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from multidict import MultiDictProxy
from pydantic import BaseModel, ValidationError

_Model = TypeVar("_Model", bound=BaseModel)
TYPED_CHARS = 400
"""What is kept of a typed value to show it again (every field's limit is below)."""


@dataclass
class FormState:
    """A form as typed, and what is wrong with it: by field (shown next to it), and as a whole."""

    values: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.problems or self.general)

    def refuse(self, name: str, problem: str) -> None:
        """Say what is wrong with ``name`` (the first problem found with a field is the one shown)."""
        self.problems.setdefault(name, problem)


@dataclass(frozen=True)
class FieldWords:
    """How a form names its fields, and what a field that breaks its pattern should hold."""

    labels: Mapping[str, str]
    patterns: Mapping[str, str] = field(default_factory=dict)


def typed(form: MultiDictProxy[str], names: Iterable[str], codes: Iterable[str] = ()) -> FormState:
    """The fields ``names`` of a submitted form as typed (trimmed, bounded); those in ``codes`` (ids, numbers,
    phones, dates) with full-width letters and digits as their half-width selves (NFKC: a phone keyboard's １３８
    is 138). Names and other text stay as typed: （ ） in a stall's name is not ( )."""
    normalised = set(codes)
    return FormState({name: (unicodedata.normalize("NFKC", form.get(name, "")) if name in normalised
                             else form.get(name, "")).strip()[:TYPED_CHARS] for name in names})


def checked(model: type[_Model], state: FormState, words: FieldWords, **fixed: object) -> _Model | None:
    """``state``'s values (a blank one as not given) with ``fixed`` ones, as ``model`` takes them — or None, each
    field's problem recorded in ``state``."""
    data: dict[str, object] = {name: value for name, value in state.values.items()
                               if value and name in model.model_fields}
    data.update(fixed)
    try:
        return model.model_validate(data)
    except ValidationError as invalid:
        for error in invalid.errors(include_url=False, include_input=False):
            name = str(error["loc"][0]) if error["loc"] else ""
            state.refuse(name, _problem(name, error["type"], error.get("ctx") or {}, words))
        return None


def _problem(name: str, kind: str, context: Mapping[str, object], words: FieldWords) -> str:
    label = words.labels.get(name, name)
    if kind in ("missing", "string_too_short"):
        return f"请填写{label}"
    if kind == "string_too_long":
        return f"{label}最多 {context.get('max_length')} 个字"
    if kind == "string_pattern_mismatch":
        return words.patterns.get(name) or f"{label}含有无法识别的字符"
    if kind == "enum":
        return f"请选择{label}"
    if kind.startswith("date"):
        return f"{label}的格式应为 2026-11-23"
    return words.patterns.get(name) or f"{label}填写有误"
