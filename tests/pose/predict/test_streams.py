"""Inference streams: ordered results, bounded work in flight, errors surfaced, threads restored."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import torch

from pose.predict.streams import ordered_map, stream_count, threads_per_stream


def test_results_come_in_input_order_with_bounded_work_in_flight() -> None:
    pulled = 0
    worker_threads: set[str] = set()

    def items() -> Iterator[int]:
        nonlocal pulled
        for i in range(30):
            pulled += 1
            yield i

    def slow_square(i: int) -> int:
        worker_threads.add(threading.current_thread().name)
        time.sleep(0.001 * (i % 3))  # later items often finish first
        return i * i

    got = []
    for consumed, result in enumerate(ordered_map(slow_square, items(), streams=2), start=1):
        got.append(result)
        assert pulled - consumed <= 2  # at most streams + 1 items taken before this result
    assert got == [i * i for i in range(30)]
    assert len(worker_threads) == 2 and threading.current_thread().name not in worker_threads


def test_one_stream_runs_in_the_calling_thread() -> None:
    names = list(ordered_map(lambda _: threading.current_thread().name, range(3), streams=1))
    assert names == [threading.current_thread().name] * 3


def test_a_failing_batch_raises_after_the_results_before_it() -> None:
    def fail_on_three(i: int) -> int:
        if i == 3:
            raise ValueError("batch 3")
        return i

    got = []
    with pytest.raises(ValueError, match="batch 3"):
        for result in ordered_map(fail_on_three, range(10), streams=2):
            got.append(result)
    assert got == [0, 1, 2]


def test_threads_are_shared_among_streams_and_restored() -> None:
    total = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        with pytest.raises(RuntimeError), threads_per_stream(2):
            assert torch.get_num_threads() == 2
            raise RuntimeError
        assert torch.get_num_threads() == 4
        with threads_per_stream(3):
            assert torch.get_num_threads() == 1
        with threads_per_stream(2):  # the pool's fresh threads get the shared count
            assert list(ordered_map(lambda _: torch.get_num_threads(), range(4), 2)) == [2] * 4
    finally:
        torch.set_num_threads(total)


def test_stream_count() -> None:
    total = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert stream_count(torch.device("cpu")) == 2
        assert stream_count(torch.device("cuda")) == 1
        torch.set_num_threads(1)
        assert stream_count(torch.device("cpu")) == 1
    finally:
        torch.set_num_threads(total)
