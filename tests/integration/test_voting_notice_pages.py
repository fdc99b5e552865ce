"""Public notices (/voting/notices), over HTTP on both databases: a proposal's notice with its notice period and a
printable A4 version, the result notice once the tick published it (breakdown, criteria, chain head — no names), the
archive of the community's notices; visible to every signed-in resident of the community (a tenant not on the roll
too), "not found" for another community, exactly as an unknown id."""

from __future__ import annotations

from datetime import timedelta

import pytest

from community.voting import Ballot, Capacity, Choice
from tests.integration.test_voting_paper_pages import Site, site
from tests.integration.test_voting_register import CLOSES

pytestmark = pytest.mark.integration
__all__ = ["site"]

NOTICE = "/voting/notices/p-lifts"


async def test_every_resident_of_the_community_reads_the_notice_and_prints_it(site: Site) -> None:
    for account in ("tenant-1", "wang", "pm-1", "street"):
        await site.sign_in(account)
        page = await site.page(NOTICE)
        assert "关于“更换电梯”的表决公告" in page and "荷花小区" in page, account
        assert "2026-11-01 09:00 至 2026-12-01 09:00（30.0 天；现要求至少 0 天，法定至少 15 天）" in page, account
    printed = await site.page(NOTICE + "?print=1")
    assert "@page { size: A4" in printed and "<nav" not in printed, "the noticeboard's version: no navigation"
    archive = await site.page("/voting/notices")
    assert f'href="{NOTICE}"' in archive and "表决公告" in archive
    assert f'href="{NOTICE}/result"' not in archive, "no result yet"
    pending = await site.page(NOTICE + "/result")
    assert 'id="not-published"' in pending


async def test_the_result_notice_shows_the_breakdown_criteria_and_chain_head(site: Site) -> None:
    await site.voting.cast(Ballot("p-lifts", "b1-101", "wang", Capacity.OWNER, Choice.AGREE), site.clock())
    await site.voting.cast(Ballot("p-lifts", "b1-102", "wang", Capacity.OWNER, Choice.OPPOSE), site.clock())
    await site.voting.tick(CLOSES)
    site.clock.now = CLOSES + timedelta(hours=1)
    published = await site.voting.published("p-lifts")
    assert published is not None
    await site.sign_in("tenant-1")
    page = await site.page(NOTICE + "/result")
    assert "表决未通过" in page and 'id="breakdown"' in page
    assert "<td>同意</td><td class=\"num\">89.37</td><td class=\"num\">0</td>" in page
    assert "名下多套房屋意见不一（计为参与、不计同意）" in page, "wang split: counted, not named"
    assert "wang" not in page and "王芳" not in page
    assert 'id="criterion-quorum_area"' in page and "还差" in page
    assert published.head.head_hash in page
    printed = await site.page(NOTICE + "/result?print=1")
    assert "@page { size: A4" in printed and published.head.head_hash in printed
    archive = await site.page("/voting/notices")
    assert f'href="{NOTICE}/result"' in archive and "表决结果公告" in archive


async def test_another_community_finds_no_notice_as_for_an_unknown_one(site: Site) -> None:
    await site.sign_in("wu")
    for path in (NOTICE, NOTICE + "/result"):
        unknown = await site.page(path.replace("p-lifts", "p-nothing"), status=404)
        assert await site.page(path, status=404) == unknown
    archive = await site.page("/voting/notices")
    assert "p-lifts" not in archive and "更换电梯" not in archive


async def test_the_proposal_page_shows_its_notice_date(site: Site) -> None:
    await site.sign_in("wang")
    page = await site.page("/voting/proposals/p-lifts")
    assert "2026-11-01 09:00 发布，公告期至投票开始 2026-12-01 09:00" in page and f'href="{NOTICE}"' in page
