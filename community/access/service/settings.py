"""What an access deployment is given: the keys the gates share with the platform (`AccessKeys`) and everything it
may tune (`AccessSettings`), each checked when it is built so a value that cannot work fails at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from community.access.alarms import AlarmRules
from community.access.whitelist_sync import DEFAULT_POLICY, SyncPolicy


@dataclass(frozen=True)
class AccessKeys:
    """`site_key` hashes credentials on the whitelists (the gates hold it: they hash what their readers see);
    `pass_key` signs visitor passes (the gates hold it too: they verify passes offline)."""

    site_key: bytes
    pass_key: bytes

    def __post_init__(self) -> None:
        if len(self.site_key) < 16:
            raise ValueError("the access site key must be at least 16 bytes")
        if len(self.pass_key) < 32:
            raise ValueError("the visitor pass key must be at least 32 bytes")


@dataclass(frozen=True)
class AccessSettings:
    """Everything a deployment may tune, with the defaults the docs describe (docs/community.md).

    The alarm thresholds are plain fields so the composition root can fill each from one setting; the alarm rules
    are built from them (:attr:`alarm_rules`), which also checks them: ValueError for a threshold that cannot work.
    """

    sync_policy: SyncPolicy = DEFAULT_POLICY
    denial_threshold: int = 5
    """Denials at one door that raise a repeated-denials alarm when they fall within `denial_window`."""
    denial_window: timedelta = timedelta(minutes=2)
    door_held_open_after: timedelta = timedelta(seconds=60)
    """A door heard open and not closed for longer raises a door-held-open alarm (besides the gate's own)."""
    gate_offline_after: timedelta = timedelta(minutes=5)
    """A gate offline — or registered and never heard from — for longer raises a gate-offline alarm."""
    resident_presence_stale_after: timedelta = timedelta(hours=24)
    """A resident last seen going in longer ago than this no longer counts as inside (they may have left unseen)."""
    remote_open_timeout: timedelta = timedelta(seconds=10)
    remote_open_seconds: int = 5
    pass_default_validity: timedelta = timedelta(hours=4)
    pass_max_validity: timedelta = timedelta(hours=24)
    pass_default_uses: int = 4
    max_active_passes: int = 10
    """How many active visitor passes (unexpired, unrevoked, uses left) one resident may hold at once."""
    expired_kept_for: timedelta = timedelta(days=30)
    """Credentials expired less than this long ago stay on the lists, so gates say 'expired', not 'unknown'."""
    live_streams_per_account: int = 4
    """Live-feed streams one account holds at once; its newest ends its oldest (`LiveFeed.max_per_subscriber`)."""
    refresh_every: timedelta = timedelta(hours=1)
    """How often every whitelist is recomputed anyway (passes leaving the blacklist, expired credentials pruned)."""
    log_retention: timedelta | None = timedelta(days=180)
    """How long the access log keeps people's movements (PIPL: no longer than the purpose needs): older gate events
    and presence rows are deleted, visitor passes that ended longer ago lose the visitor's name and phone, alarms
    resolved longer ago are deleted. None: kept forever."""
    purge_every: timedelta = timedelta(hours=1)
    """How often what is past `log_retention` is purged (the first time at start)."""

    def __post_init__(self) -> None:
        _ = self.alarm_rules  # builds the rules, so a threshold that cannot work fails at start-up
        if self.resident_presence_stale_after <= timedelta(0):
            raise ValueError("resident_presence_stale_after must be positive")
        if self.live_streams_per_account < 1:
            raise ValueError("live_streams_per_account must be at least 1")
        if isinstance(self.max_active_passes, bool) or self.max_active_passes < 1:
            raise ValueError("max_active_passes must be at least 1")
        if self.log_retention is not None and self.log_retention <= timedelta(0):
            raise ValueError("log_retention must be positive (None keeps the log forever)")
        if self.purge_every <= timedelta(0):
            raise ValueError("purge_every must be positive")

    @property
    def alarm_rules(self) -> AlarmRules:
        return AlarmRules(denial_threshold=self.denial_threshold, denial_window=self.denial_window,
                          held_open_after=self.door_held_open_after, offline_after=self.gate_offline_after)

