"""Migration 0007_h7_complaint_conclusion on both databases: complaints closed before it keep what they were — a
rejected one is concluded not upheld (by definition), a resolved one is left without a conclusion and still counts
as upheld for the vendor's credit, as the rules read a resolved complaint then — and the schema is the code's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from market.complaints import ComplaintConclusion, ComplaintState
from market.storage import MarketRepository
from market.storage.tables import complaints, markets, stalls, vendors
from relational.database import migrate
from tests.integration.conftest import empty_engine
from tests.integration.test_market_storage import NOW, SITE, downgrade, market_differences

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine_at_0006(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = await empty_engine(request, tmp_path)
    await migrate(made, "market", "0006_h11_complaints")
    yield made
    await made.dispose()


def _complaint(number: int, state: str, closed: bool) -> dict[str, object]:
    return {"site": SITE, "reference": f"TS2345678{number:03d}", "stall": "A03", "trace_code": None,
            "category": "short_weight", "text": "称重少了二两", "filed_at": NOW, "deadline": NOW + timedelta(days=7),
            "state": state, "handled_by": "op-1" if closed else None, "outcome": "已处理" if closed else None,
            "updated_at": NOW if closed else None, "closed_at": NOW + timedelta(hours=1) if closed else None}


async def test_upgrading_concludes_rejected_complaints_not_upheld_and_leaves_resolved_ones_unsaid(
        engine_at_0006: AsyncEngine) -> None:
    engine = engine_at_0006
    async with engine.begin() as connection:
        await connection.execute(markets.insert().values(site=SITE, name="新发地农贸市场", address="北京市丰台区",
                                                         complaint_hotline="12315", created_at=NOW))
        await connection.execute(vendors.insert().values(site=SITE, vendor_id="v-wang", name="王建国",
                                                         created_at=NOW))
        await connection.execute(stalls.insert().values(site=SITE, stall="A03", name="王记蔬菜",
                                                        stall_type="vegetables", vendor_id="v-wang"))
        await connection.execute(complaints.insert(), [
            _complaint(n, state, closed)
            for n, (state, closed) in enumerate([("resolved", True), ("rejected", True), ("handling", False)])])
    await migrate(engine, "market")
    async with engine.connect() as connection:
        found = {c.state: c for c in await MarketRepository(connection).complaints(SITE, None)}
        assert await connection.run_sync(market_differences) == []
    assert {state: c.conclusion for state, c in found.items()} == {
        ComplaintState.RESOLVED: None, ComplaintState.REJECTED: ComplaintConclusion.NOT_UPHELD,
        ComplaintState.HANDLING: None}
    assert [state for state, c in found.items() if c.upheld] == [ComplaintState.RESOLVED]
    await downgrade(engine, "0006_h11_complaints")
    await migrate(engine, "market")
    async with engine.connect() as connection:
        assert await connection.run_sync(market_differences) == []
