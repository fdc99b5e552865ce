"""What the embedded broker lets through: only the run's users connect, each with its password (a device
under its own client id), and each publishes and subscribes only within its topic rights
(:func:`devices.provisioning.topic_rules`) — an amqtt plugin, and amqtt's broker with one leak closed.

amqtt 0.12's own plugins fall short of this: ``AnonymousAuthPlugin`` with anonymous access off lets in any
client that names a user, whatever its password; ``FileAuthPlugin`` wants Argon2 hashes in a file; no topic
plugin looks at a client's last will, which the broker publishes for it unchecked when it drops; and the
broker sends retained messages past every topic plugin (:class:`SubscribersOnlyBroker`).
This module imports amqtt, so it is imported only in embedded mode.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from devices.provisioning import client_id_allowed
from devices.topics import filter_covers

PLUGIN = f"{__name__}.BrokerAccessPlugin"


# amqtt ships no type information, so mypy sees these bases as Any
class BrokerAccessPlugin(BaseAuthPlugin, BaseTopicPlugin):  # type: ignore[misc]
    """Logins and topic rights of the users in :class:`Config`; anyone else is refused."""

    @dataclass
    class Config:
        passwords: dict[str, str] = field(default_factory=dict)  # username → password
        client_ids: dict[str, str] = field(default_factory=dict)  # username → the client id it is bound to
        publish: dict[str, list[str]] = field(default_factory=dict)  # username → filters it may publish to
        read: dict[str, list[str]] = field(default_factory=dict)  # username → filters it may subscribe to

    config: Config

    async def authenticate(self, *, session: Session) -> bool:
        username = session.username
        expected = self.config.passwords.get(username or "")
        if username is None or expected is None or session.password is None:
            return False  # anonymous, or a user of no run of ours
        if not hmac.compare_digest(expected.encode(), session.password.encode()):
            return False
        if not client_id_allowed(self.config.client_ids.get(username), session.client_id or ""):
            return False
        # the broker publishes a last will on the client's behalf without asking the topic plugins
        return not session.will_flag or self._may(username, self.config.publish, session.will_topic)

    async def topic_filtering(self, *, session: Session | None = None, topic: str | None = None,
                              action: Action | None = None) -> bool:
        if action is Action.RECEIVE:
            # checked when the session subscribed, by its user; a device resumes no session but its own
            # (Config.client_ids), and a refused client is sent nothing
            return True
        rights = self.config.publish if action is Action.PUBLISH else self.config.read
        return session is not None and self._may(session.username, rights, topic)

    @staticmethod
    def _may(username: str | None, rights: dict[str, list[str]], topic: str | None) -> bool:
        if username is None or not topic:
            return False
        return any(filter_covers(allowed, topic) for allowed in rights.get(username, ()))


class SubscribersOnlyBroker(Broker):  # type: ignore[misc]
    """amqtt's broker, sending a client a retained message only for a subscription of its own.

    amqtt 0.12 sends every client, as it connects, the retained messages matching each subscription in the
    broker — anyone's, not only the client's (``Broker._handle_client_session``) — and asks no topic plugin:
    a gate would be handed every device's retained state because the gateway subscribes to ``sc/v1/#``."""

    async def _publish_retained_messages_for_subscription(self, subscription: tuple[str, int],
                                                          session: Session) -> None:
        subscribers = self._subscriptions.get(subscription[0], ())
        if any(subscriber.client_id == session.client_id for subscriber, _qos in subscribers):
            await super()._publish_retained_messages_for_subscription(subscription, session)
