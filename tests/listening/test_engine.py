from __future__ import annotations

import threading

from earful.listening import LiveMatcher, QuerySource
from tests.listening.helpers import post


def test_update_in_background_swaps_in_the_new_queries() -> None:
    live = LiveMatcher([QuerySource("a", 1, "skyward")])
    assert live.match([post("skyward"), post("brightline")]) == [frozenset({1}), frozenset()]
    live.update([QuerySource("a", 1, "skyward"), QuerySource("b", 2, "brightline")])
    live.wait(10)
    assert live.match([post("skyward"), post("brightline")]) == [
        frozenset({1}),
        frozenset({2}),
    ]


def test_matching_keeps_serving_the_old_snapshot_while_compiling() -> None:
    live = LiveMatcher([QuerySource("a", 1, "skyward")])
    old = live.current
    many = [QuerySource(i, 2, f"brand{i} AND (refund* OR late)") for i in range(3000)]
    stop = threading.Event()
    seen: list[frozenset[int]] = []

    def reader() -> None:
        while not stop.is_set():
            seen.extend(live.match([post("skyward brand7 refund")]))

    thread = threading.Thread(target=reader)
    thread.start()
    live.update([QuerySource("a", 1, "skyward"), *many])
    live.wait(30)
    stop.set()
    thread.join()
    assert live.current is not old
    # Every answer came from a whole snapshot: the old one or the new one, nothing between.
    assert set(seen) <= {frozenset({1}), frozenset({1, 2})}
    assert live.match([post("skyward brand7 refund")]) == [frozenset({1, 2})]


def test_the_last_update_wins() -> None:
    live = LiveMatcher()
    live.update([QuerySource("a", 1, "first")])
    live.update([QuerySource("a", 1, "second")], wait=True)
    live.wait(10)
    assert live.match([post("first second")]) == [frozenset({1})]
    assert live.match([post("first")]) == [frozenset()]
