"""People who sign in to the web pages: an account id (the subject of their bearer token; for a
resident, the owner id on the voter roll), a display name, roles, and a scrypt password hash.

* ``domain`` — accounts, password hashing and checking (no I/O, no clock);
* ``throttling`` — how many sign-in attempts per account and per client address, and when (no I/O, no clock);
* ``storage`` — the accounts and revoked-tokens tables (SQLAlchemy Core; migrations in ``migrations/``);
* ``service`` — create, enable and disable an account, check a sign-in, say whether a token may still be used
  (the :class:`webkit.identity.TokenChecker` of every bearer and session check), revoke one;
* ``demo`` — the demo accounts of the all-in-one ``smartcity run``.
"""
