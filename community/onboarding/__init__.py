"""Onboarding a compound: a property office's spreadsheet (CSV or XLSX) of buildings, units with their exclusive
areas, owners and co-owners, residents with their phones and cards, checked row by row, shown as a dry run, then
imported all at once — or not at all.

Why a package of its own: one import writes to two contexts. The buildings, units, residents and cards belong to the
access register (``community.access``); who owns each unit to the ownership register (``community.ownership``),
which already depends on the access register (it reads its units and areas). The use case that writes both must see
both, so it sits above them — here — and not in either: the access context importing the ownership context would
close a cycle between them. The access context's web API and console serve it (the import is the property manager's
work on a community, at ``/api/access/communities/{id}/import`` and ``/access/console/import``); those entry points
are the outermost ring of the access context, above this package, so the modules still import one way only::

    community.access.web / community.access.pages      (HTTP, pages)
        -> community.onboarding                         (this package)
            -> community.ownership                      (the ownership register)
                -> community.access (domain, storage, service)

One transaction: the access service opens it (:meth:`community.access.service.AccessService.compound_work`, which
serialises it with the access service's other writes and recomputes the gates' whitelists before it commits); the
ownership records are written on the same connection through the ownership register's repository, as the voting
context reads it. A refusal anywhere, or a failure half-way, leaves nothing written.

* `columns` — the spreadsheet's columns: Chinese headers, English keys, what each holds (the template says the same);
* `sheet` — plain Python: each row's cells checked and turned into values, then the rows taken together (a unit's
  rows agree, every unit has an owner, nobody lives in two units...), every refusal with its row and reason;
* `plan` — plain Python: the sheet against the registers as they are — what will be created, changed, left alone or
  refused, row by row;
* `spreadsheet` — the edge: bytes of a CSV or XLSX file to rows (streamed, bounded), and the templates;
* `service` — the use case: a dry run or the import, in one transaction.
"""
