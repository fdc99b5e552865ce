"""People who sign in to the web pages: an account id (the subject of their bearer token; for a
resident, the owner id on the voter roll), a display name, roles, and a scrypt password hash.

* ``domain`` — accounts, password hashing and checking (no I/O, no clock);
* ``passwords`` (with ``common_passwords``) — what makes a password too weak to set (no I/O);
* ``throttling`` — how many sign-in attempts per account and per client address, and when (no I/O, no clock);
* ``organisations``, ``stewardship`` — who belongs where and acts on what; who looks after whose account (no I/O);
* ``one_time_codes`` — setup links, invitations, password resets, activation codes (no I/O, no clock);
* ``storage``, ``code_storage`` — the tables (SQLAlchemy Core; migrations in ``migrations/``);
* ``service`` — create, enable and disable an account, check a sign-in, say whether a token may still be used
  (the :class:`webkit.identity.TokenChecker` of every bearer and session check), revoke one;
  ``tenancy`` — organisations, assignments, integration tokens; ``onboarding`` — the first administrator,
  invitations, resets, residents' activation (``residents``: the directory it is handed);
* ``api``, ``onboarding_api`` — the JSON API at /api/accounts; ``pages``, ``onboarding_pages``,
  ``invitation_pages``, ``people_pages`` — sign-in, the one-time code pages, activation letters, invitations, the
  accounts a steward looks after (reset links, disabling, enabling); ``page_words`` — what those pages share;
* ``demo`` — the demo accounts of the all-in-one ``smartcity run``.
"""
