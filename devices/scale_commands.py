"""Downlinks to traceability scales: the ``args`` of the market's commands and what their acks carry.

Both are sent as a :class:`devices.contract.Command` on ``sc/v1/{site}/scale/{device}/cmd``; the scale
answers with a :class:`devices.contract.CommandAck` echoing ``cmd_id`` on ``.../ack``. A command may be
sent again with the same ``cmd_id`` (a retry): a scale applies it once and acks it again.

``set_prices``
    The stall's whole price table, which replaces the one the scale holds. For each PLU the entry with
    the latest ``effective_from`` not after the time of sale applies; entries effective later are kept
    and switch on by themselves. A scale refuses to sell a PLU that is not in its table. The ack's
    ``result`` may carry :class:`SetPricesResult` (how many entries it loaded); fewer than sent means
    the push failed.

``block_batch``
    Stop selling from a batch (a recall or a failed rapid test): the scale refuses sales naming
    ``batch``, and sales of ``plu`` while that batch is the one it would print. The ack's ``result``
    may carry :class:`BlockBatchResult`.

``unblock_batch``
    Sell from a batch again (the operator lifted its block: a recall withdrawn, a failed test
    overturned by a passing retest): the scale forgets the block of ``batch``. A scale that holds no
    block of it acks all the same (the block may never have reached it). The ack's ``result`` may
    carry :class:`UnblockBatchResult`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from devices.contract import Command, Identifier, ShortText, TagCode, Timestamp

SET_PRICES: Final = "set_prices"
BLOCK_BATCH: Final = "block_batch"
UNBLOCK_BATCH: Final = "unblock_batch"
MAX_PRICES_PER_TABLE: Final = 500


class _Wire(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class ScalePrice(_Wire):
    """One line of a scale's price table: fen per kilogram from ``effective_from``."""

    plu: TagCode
    product: ShortText
    unit_price_fen: Annotated[StrictInt, Field(gt=0, le=100_000_000)]
    effective_from: Timestamp


class SetPricesArgs(_Wire):
    stall: TagCode
    prices: Annotated[list[ScalePrice], Field(max_length=MAX_PRICES_PER_TABLE)]


class BlockBatchArgs(_Wire):
    batch: Identifier
    plu: TagCode
    reason: ShortText
    blocked_at: Timestamp


class UnblockBatchArgs(_Wire):
    batch: Identifier
    plu: TagCode
    reason: ShortText
    released_at: Timestamp


class SetPricesResult(_Wire):
    prices_loaded: Annotated[StrictInt, Field(ge=0)]


class BlockBatchResult(_Wire):
    blocked: bool


class UnblockBatchResult(_Wire):
    unblocked: bool


def set_prices_command(cmd_id: str, args: SetPricesArgs, issued_at: datetime) -> Command:
    return _command(cmd_id, SET_PRICES, args, issued_at)


def block_batch_command(cmd_id: str, args: BlockBatchArgs, issued_at: datetime) -> Command:
    return _command(cmd_id, BLOCK_BATCH, args, issued_at)


def unblock_batch_command(cmd_id: str, args: UnblockBatchArgs, issued_at: datetime) -> Command:
    return _command(cmd_id, UNBLOCK_BATCH, args, issued_at)


def _command(cmd_id: str, op: str, args: _Wire, issued_at: datetime) -> Command:
    wire: dict[str, Any] = args.model_dump(mode="json")
    return Command(cmd_id=cmd_id, op=op, args=wire, issued_at=issued_at)
