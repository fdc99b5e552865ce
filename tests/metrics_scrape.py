"""Reading a /metrics page as a Prometheus scraper does, for the tests."""

from __future__ import annotations

import asyncio

import aiohttp
from prometheus_client.parser import text_string_to_metric_families


async def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample at ``url``, by name and labels."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200 and response.content_type == "text/plain"
        text = await response.text()
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def sample(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """One sample's value, 0 when it is not there (a labelled counter appears at its first increment)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scraped_until(url: str, name: str, value: float, timeout: float = 8.0, **labels: str) -> None:
    """Scrape until the sample has ``value``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (found := sample(await scrape(url), name, **labels)) != value:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{name}{labels} is {found}, not {value}, after {timeout}s")
        await asyncio.sleep(0.1)
