"""The topic layout of the device contract: building, parsing, and what is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.topics import (
    DATA_CHANNEL,
    Channel,
    DeviceKind,
    DeviceTopic,
    TopicError,
    filter_covers,
    parse_topic,
    subscription_filter,
    topic_for,
)

identifiers = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
# every (kind, channel) pair the contract allows: the kind's own data channel plus the common ones
contract_pairs = st.sampled_from(
    [
        (kind, channel)
        for kind in DeviceKind
        for channel in (DATA_CHANNEL[kind], Channel.STATE, Channel.CMD, Channel.ACK)
    ]
)


@given(site=identifiers, device=identifiers, pair=contract_pairs)
def test_parse_topic_reads_back_what_topic_for_built(
    site: str, device: str, pair: tuple[DeviceKind, Channel]
) -> None:
    kind, channel = pair
    topic = topic_for(site, kind, device, channel)

    assert parse_topic(topic) == DeviceTopic(site, kind, device, channel)
    assert str(parse_topic(topic)) == topic


def test_topic_for_lays_out_prefix_site_kind_device_channel() -> None:
    assert topic_for("market-3", "scale", "scale_07", "record") == "sc/v1/market-3/scale/scale_07/record"


@pytest.mark.parametrize(
    ("topic", "part"),
    [
        ("sc/v1/bad site/gate/g1/event", "site"),
        ("sc/v1/" + "s" * 65 + "/gate/g1/event", "site"),
        ("sc/v1//gate/g1/event", "site"),
        ("sc/v1/s1/gate/g.1/event", "device"),
        ("sc/v1/s1/gate//event", "device"),
        ("sc/v1/s1/door/g1/event", "kind"),
        ("sc/v1/s1/gate/g1/events", "channel"),
        ("sc/v2/s1/gate/g1/event", "form"),
        ("sc/v1/s1/gate/g1", "form"),
        ("sc/v1/s1/gate/g1/event/extra", "form"),
        ("xx/v1/s1/gate/g1/event", "form"),
    ],
)
def test_each_invalid_part_gives_a_topic_error_naming_that_part(topic: str, part: str) -> None:
    with pytest.raises(TopicError) as raised:
        parse_topic(topic)

    assert part in str(raised.value)


def test_a_gate_has_no_record_channel() -> None:
    with pytest.raises(TopicError, match="gate has no 'record' channel"):
        parse_topic("sc/v1/s1/gate/g1/record")


def test_a_scale_has_no_event_channel() -> None:
    with pytest.raises(TopicError, match="scale has no 'event' channel"):
        parse_topic("sc/v1/s1/scale/sc1/event")


@pytest.mark.parametrize(("label", "site", "device"), [("site", "a/b", "d1"), ("device", "s1", "d+")])
def test_topic_for_refuses_identifiers_outside_the_contract(label: str, site: str, device: str) -> None:
    with pytest.raises(TopicError, match=label):
        topic_for(site, DeviceKind.GATE, device, Channel.STATE)


def test_subscription_filter_covers_the_whole_contract_tree() -> None:
    assert subscription_filter() == "sc/v1/#"


def test_subscription_filter_with_a_share_group_is_a_shared_subscription() -> None:
    assert subscription_filter("gateways") == "$share/gateways/sc/v1/#"


def test_an_empty_share_group_means_no_shared_subscription() -> None:
    assert subscription_filter("") == "sc/v1/#"


@pytest.mark.parametrize(("allowed", "wanted", "covered"), [
    ("sc/v1/#", "sc/v1/#", True),
    ("sc/v1/#", "sc/v1/+/gate/#", True),
    ("sc/v1/#", "sc/v1/demo/gate/gate-01/event", True),
    ("sc/v1/#", "sc/v1", True),  # "#" matches its parent level too
    ("sc/v1/#", "#", False),
    ("sc/v1/#", "sc/#", False),
    ("sc/v1/#", "sc/+/demo", False),
    ("sc/v1/+/+/+/cmd", "sc/v1/demo/gate/gate-01/cmd", True),
    ("sc/v1/+/+/+/cmd", "sc/v1/demo/gate/gate-01/ack", False),
    ("sc/v1/+/+/+/cmd", "sc/v1/demo/gate/#", False),
    ("sc/v1/demo/gate/gate-01/cmd", "sc/v1/demo/gate/gate-01/cmd", True),
    ("sc/v1/demo/gate/gate-01/cmd", "sc/v1/demo/gate/+/cmd", False),
    ("sc/v1/demo/gate/gate-01/cmd", "sc/v1/demo/gate/gate-01/cmd/x", False),
    ("sc/v1/demo/gate/gate-01/cmd", "sc/v1/demo/gate/gate-01", False),
])
def test_a_filter_covers_only_what_it_would_match(allowed: str, wanted: str, covered: bool) -> None:
    assert filter_covers(allowed, wanted) is covered


def _matches(topic_filter: str, topic: str) -> bool:
    """MQTT's matching of a topic against a filter, written out plainly as the reference."""
    levels, topic_levels = topic_filter.split("/"), topic.split("/")
    for index, level in enumerate(levels):
        if level == "#":
            return True
        if index >= len(topic_levels) or level not in ("+", topic_levels[index]):
            return False
    return len(levels) == len(topic_levels)


concrete_levels = st.lists(st.sampled_from(["sc", "v1", "a"]), min_size=1, max_size=4)
filters = st.builds(lambda levels, tail: "/".join(levels + tail),
                    st.lists(st.sampled_from(["sc", "v1", "a", "+"]), min_size=1, max_size=4),
                    st.sampled_from([[], ["#"]]))


@given(filters, filters, concrete_levels)
def test_whatever_a_covered_filter_matches_the_covering_filter_matches_too(
    allowed: str, wanted: str, levels: list[str]
) -> None:
    topic = "/".join(levels)
    if filter_covers(allowed, wanted) and _matches(wanted, topic):
        assert _matches(allowed, topic)


@given(filters)
def test_a_filter_covers_itself(topic_filter: str) -> None:
    assert filter_covers(topic_filter, topic_filter)
