"""People who sign in to the web pages: an account id (the subject of their bearer token; for a
resident, the owner id on the voter roll), a display name, roles, and a scrypt password hash.

* ``domain`` — accounts, password hashing and checking, sign-in throttling (no I/O, no clock);
* ``storage`` — the accounts table (SQLAlchemy Core; migrations in ``migrations/``);
* ``service`` — create an account, check a sign-in;
* ``demo`` — the demo accounts of the all-in-one ``smartcity run``.
"""
