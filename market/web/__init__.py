"""The market API (aiohttp) and the stall pages.

Operators (``market_operator`` or ``admin``) manage their markets, a supervision office (``supervisor``) reads
them, and another market answers as if it did not exist (``scope``); the stall display, the price board,
price history and the trace lookup are public, and show nothing private: no vendor's or supplier's
contact, no payment, no tester's name, health-certificate holders' names masked. The trace lookup is
rate-limited per client address (behind a trusted reverse proxy, the address it forwards). Handlers only
translate HTTP to MarketService calls.

``routes`` holds the route table and :func:`mount`; ``schemas`` the request and response bodies;
``presenting`` how domain values are shown; ``handling`` what every handler shares; the handlers per
resource: ``directory`` (markets, vendors and documents, stalls, scales, licence problems), ``prices``,
``tracing`` (batches, tests, recall, corrections, forward trace, EPCIS, the public trace lookup),
``findings``, ``stall_screen`` (the stall's display, screen and public page).
"""

from market.web.routes import create_app, mount

__all__ = ["create_app", "mount"]
