"""The composition root and the CLI, at the top of the tree: nothing in the installation imports them. Besides the
wiring (``bootstrap``, ``lifecycle``, ``serve``), the commands (``cli``, ``account_commands``, ``vote_records``) and
the demo (``demo``), the pages that span contexts live here: ``admin_pages``, the administrator's organisations,
communities and markets (templates in ``templates/admin``)."""
