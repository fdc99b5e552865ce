"""The market's pages: the operator's (stalls and their licences, a stall with its scales, publishing
prices with a confirmation, batches and rapid tests, recall with the forward trace, findings) and the
public ones (the price board with price-trend charts, the trace lookup a receipt's QR code opens).

Handlers translate forms into :class:`MarketService` calls and render. Input is checked here first,
so every refusal comes back as a Chinese message on the page, never as a traceback. Prices typed in
yuan become integer fen by exact decimal arithmetic, never through a float.

URLs (``{site}`` is the market's site id)::

    /market/{site}/prices                 public: today's board, price trends (?days=7|14|30)
    /market/{site}/trace                  public: the trace lookup form (?code= also takes a receipt URL)
    /market/{site}/trace/{trace_code}     public: what a receipt's trace code leads to (the receipt's QR code)
    /market/manage                        operators, supervisors: the way in, to their market(s)
    /market/{site}/manage[/...]           the market's operators: stalls, prices, batches, findings, vendors and
                                          their documents with scans, stalls and scales added (its supervisor:
                                          reading, no forms; another market: 404 as for none)

``routes`` mounts them; one module per page group: ``choosing`` (the way in), ``stalls``, ``stall_forms``
(adding and changing stalls, their staff rosters, the market's licence policy, registering scales), ``vendors``
(and whether one is a farmer selling their own produce), ``documents`` (a document with its scan),
``publishing``, ``batches`` (``batch_intake``: the form registering a batch with its certificates), ``findings``
(the operator's), ``price_board`` and ``trace_lookup`` (the public ones); ``context`` holds what every page
reads from the app and the request (and the operator pages' guard),
``uploads`` the guard and bounded reading of a form with a file, ``form_fields`` what people type,
``wording`` how states are worded.
"""

from market.pages.routes import mount_market_pages

__all__ = ["mount_market_pages"]
