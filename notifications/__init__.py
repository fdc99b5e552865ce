"""notifications: events reach people and other systems, from a persistent outbox.

A service records a :class:`~notifications.events.NotificationEvent` with :func:`notifications.outbox.add` on the
connection of the transaction that made the change, so the event commits or rolls back with it. The
:class:`~notifications.dispatcher.Dispatcher` (started with the services) coalesces storms, expands each event into
deliveries (event × recipient × channel, each with an idempotency key), and delivers them with retries and back-off
per channel; deliveries are rows, so a restart loses and duplicates nothing.

Modules — the pure rules: ``events`` (kinds, severities, channels, the event and its JSON), ``coalescing``,
``quiet_hours``, ``backoff``, ``signing``, ``preferences``, ``endpoints`` (what a webhook URL may be).
At the edges: ``storage`` (tables and repositories), ``outbox`` (add, and add_once for periodic checks),
``recipients`` (who hears of what, from the accounts; a community's owners from the community context),
``channels/`` (one module per channel behind :class:`~notifications.channels.Sender`, and ``address_guard``: where an
endpoint may be connected to, judged on the resolved addresses), ``dispatcher``, ``metrics`` (Prometheus),
``service`` (what the APIs and pages call), ``web`` (the JSON API), ``pages`` (the notification centre, the settings,
the delivery log), ``endpoint_pages`` (an organisation's webhooks and robots). docs/notifications.md and
docs/integrations.md describe them.
"""
