"""RetryWaker: koji's retry sleeps end when the worker's probe sees the hub again."""

from __future__ import annotations

import threading
import time

from adjutant.hub.session import RetryWaker, _KojiTime


def sleep_in_thread(waker: RetryWaker, seconds: float, *, calls: int = 1) -> tuple:
    """Start a thread doing `calls` sleeps in one call; returns (thread, durations)."""
    durations: list[float] = []
    started = threading.Event()

    def body() -> None:
        waker.begin_call()
        started.set()
        for _ in range(calls):
            start = time.monotonic()
            waker.sleep(seconds)
            durations.append(time.monotonic() - start)

    thread = threading.Thread(target=body)
    thread.start()
    started.wait()
    return thread, durations


def wait_sleeping(waker: RetryWaker, thread: threading.Thread) -> None:
    """Until the thread waits on the waker's condition."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with waker._cond:
            if waker._cond._waiters:  # type: ignore[attr-defined]
                return
    raise AssertionError("the thread never slept")


def test_the_end_of_an_outage_wakes_every_sleep():
    waker = RetryWaker()
    assert waker.probe_failed() is True
    assert waker.probe_failed() is False  # still the same outage
    thread, durations = sleep_in_thread(waker, 30)
    wait_sleeping(waker, thread)
    assert waker.probe_answered() is True
    thread.join(5)
    assert not thread.is_alive() and durations[0] < 5


def test_an_answer_without_an_outage_wakes_a_call_only_once():
    waker = RetryWaker()
    thread, durations = sleep_in_thread(waker, 0.5, calls=2)
    wait_sleeping(waker, thread)
    assert waker.probe_answered() is False
    wait_sleeping(waker, thread)  # the second sleep of the same call
    waker.probe_answered()
    thread.join(5)
    assert durations[0] < 0.4  # woken early
    assert durations[1] >= 0.45  # slept its whole interval: koji's count keeps its meaning


def test_koji_sees_the_time_module_with_the_wakers_sleep():
    koji_time = _KojiTime("time")
    assert koji_time.time() > 0 and koji_time.monotonic() > 0
    assert koji_time.sleep is _KojiTime.sleep
