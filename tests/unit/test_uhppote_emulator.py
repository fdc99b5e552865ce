"""The emulated UHPPOTE controller's own behaviour, beyond the protocol the bridge's integration tests cover: who the
swipe generator presents, the ring buffer of the event log, and doors that open and close after a grant."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import date

import pytest

from devices.simulator.uhppote import (
    DOOR,
    GET_EVENT,
    REASON_DOOR_CLOSED,
    REASON_DOOR_OPEN,
    SOM,
    SWIPE,
    Card,
    ControllerEmulator,
    EmulatedController,
    SwipeGenerator,
    run_swipes,
)

SERIAL = 423000001
ALWAYS_DOOR_2 = (0, 1, 0, 0)


def controller_with_cards(*numbers: int) -> EmulatedController:
    controller = EmulatedController(SERIAL, doors=2)
    for number in numbers:
        controller.cards[number] = Card(number, date(2000, 1, 1), date(2099, 12, 31), ALWAYS_DOOR_2)
    return controller


def test_before_any_card_is_loaded_everyone_is_a_refused_card() -> None:
    controller = EmulatedController(SERIAL, doors=2)
    swipes = SwipeGenerator(controller, random.Random(1), other_cards=(555, 556))
    presented = [swipes.next_swipe() for _ in range(200)]
    assert all(1 <= door <= 2 for _, door, _ in presented)
    assert {card for card, _, _ in presented} & {555, 556}, "the site's other cards are tried"
    assert not any(controller.swipe(card, door).granted for card, door, _ in presented)


def test_once_cards_are_loaded_most_swipes_are_holders_at_a_door_their_card_opens() -> None:
    controller = controller_with_cards(10058400, 10058401)
    swipes = SwipeGenerator(controller, random.Random(2), other_cards=(555,), refused_share=0.2)
    presented = [swipes.next_swipe() for _ in range(1000)]
    holders = [(card, door) for card, door, _ in presented if card in controller.cards]
    assert 700 < len(holders) < 900
    assert {door for _, door in holders} == {2}  # the only door their cards open
    decided = [controller.swipe(card, door, direction) for card, door, direction in presented]
    assert sum(event.granted for event in decided) == len(holders)
    assert {event.direction for event in decided} == {1, 2}


def test_the_event_log_is_a_ring_buffer_whose_overwritten_events_say_so() -> None:
    controller = EmulatedController(SERIAL, capacity=3)
    for card in range(1, 6):
        controller.swipe(card)
    assert (controller.first_index, controller.last_index) == (3, 5)
    request = bytearray(64)
    request[0], request[1] = SOM, GET_EVENT
    request[4:8] = SERIAL.to_bytes(4, "little")
    request[8:12] = (1).to_bytes(4, "little")
    reply = controller.answer(bytes(request))
    assert reply is not None and reply[12] == 0xFF  # index 1 was overwritten
    request[8:12] = (4).to_bytes(4, "little")
    reply = controller.answer(bytes(request))
    assert reply is not None and reply[12] == SWIPE and int.from_bytes(reply[16:20], "little") == 4


async def test_a_granted_door_opens_and_closes_with_its_events_when_special_events_are_on() -> None:
    controller = controller_with_cards(10058400)
    controller.special_events = True
    emulator = ControllerEmulator(controller, door_open_seconds=0.2)
    await emulator.start()
    try:
        emulator.swipe(10058400, door=2)
        emulator.swipe(10058400, door=2)  # a second grant while the door moves: one cycle only
        emulator.swipe(99, door=1)  # refused: door 1 stays shut
        await _until(lambda: controller.doors_open[1])
        await _until(lambda: not controller.doors_open[1])
        door_events = [(event.kind, event.door, event.reason) for event in controller.events if event.kind == DOOR]
        assert door_events == [(DOOR, 2, REASON_DOOR_OPEN), (DOOR, 2, REASON_DOOR_CLOSED)]
        assert controller.doors_open == [False] * 4
    finally:
        emulator.stop()


async def test_run_swipes_presents_cards_until_stopped() -> None:
    controller = controller_with_cards(10058400)
    emulator = ControllerEmulator(controller)
    await emulator.start()
    stop = asyncio.Event()
    try:
        running = asyncio.create_task(run_swipes(emulator, SwipeGenerator(controller, random.Random(3)), 0.01, stop))
        await _until(lambda: len(controller.events) >= 5)
        stop.set()
        count = await asyncio.wait_for(running, 2)
        assert count == len(controller.events)
    finally:
        emulator.stop()
    with pytest.raises(ValueError, match="interval"):
        await run_swipes(emulator, SwipeGenerator(controller, random.Random(3)), 0, stop)


async def _until(check: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("not within the timeout")
        await asyncio.sleep(0.02)
