"""The ownership register (产权登记) of a community's units: who owns each exclusive part, which co-owner speaks for
a co-owned unit, and which units the developer still holds.

Why a package of its own, beside ``community.access`` and ``community.voting``: ownership is neither. The access
register says who *lives* in a unit (an owner, a family member, a tenant) and opens which doors; ownership says who
*owns* it — one person may own several units, a unit may be co-owned, the developer holds the unsold ones, and an
owner may live elsewhere. Voting is one reader of the register (the voter roll is frozen from it when voting opens);
maintenance-fund shares and fees would be others. So the register sits between the two: it reads the units and their
areas from the access register (it does not copy them) and the voting context reads it, never the other way round.

The register keeps its history: recording a unit's ownership adds a record, it never overwrites one, so the register
*as it stood at any moment* can be read back — which is what a roll frozen "when voting opens" needs, even when the
service gets round to building it a few seconds (or, after an outage, hours) later.

* `register` — the plain values: owners, a unit's ownership, a snapshot of the register at a moment;
* `storage` — the ownership records (SQLAlchemy Core) and the read of the access register's units;
* `service` — record or replace a unit's ownership, import a register in bulk, read it (as it is, or as it was);
* `web` — the HTTP API for the property office;
* `demo` — ownership for the demo community of ``community.access.demo``.
"""
