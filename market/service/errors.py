"""What a market use case answers instead of a result: the thing named does not exist, its state forbids
the change, or the request breaks a rule of the market. The web layer maps each to its HTTP status."""

from __future__ import annotations

from collections.abc import Sequence

from market.refusals import FieldProblem
from market.scans import ScanProblem
from market.tracing import Batch


class NotFound(Exception):
    """The market, stall, vendor, batch or finding named does not exist."""


class Conflict(Exception):
    """It exists already, or its state forbids the change (a batch blocked twice)."""


class Refused(Exception):
    """The request breaks a rule of the market (a meat batch without quarantine certificate...)."""


class FieldsRefused(Refused):
    """The request breaks rules at named fields (an origin that is no division, a certificate that does not fit the
    product...): each field's problem, for the API's details and a page's fields."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        super().__init__("; ".join(problem.message for problem in problems))
        self.problems = tuple(problems)


class Unchanged(Refused):
    """A correction that changes nothing (the quantity on record typed again)."""


class TestBeforeArrival(Refused):
    """A rapid test dated before its batch arrived (it tested something else, or the time is mistyped)."""

    __test__ = False  # a name pytest would otherwise collect

    def __init__(self, batch: Batch) -> None:
        super().__init__(f"a test of batch {batch.batch_id!r} cannot be done before it arrived "
                         f"({batch.arrived_at.isoformat()})")
        self.arrived_at = batch.arrived_at


class ScanRefused(Refused):
    """A file not taken as a licence's scan: empty, too large, or not a JPEG, PNG or PDF by its content."""

    def __init__(self, problem: ScanProblem, max_bytes: int) -> None:
        super().__init__(problem.message(max_bytes))
        self.problem = problem
        self.max_bytes = max_bytes
