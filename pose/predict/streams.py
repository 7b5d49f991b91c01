"""Inference streams: on a CPU, whole batches side by side rather than one batch split over cores.

PyTorch splits each op of a batch over its intra-op threads and joins them after every op. For the
small networks of pose estimation those joins cost time (resnet18 at 128x128 on 2 cores, in
``bench/predict_fps.py``: 283.9 frames/s as two single-thread streams against 266.0 as one
two-thread stream), and a decode thread that preempts one worker stalls the others at the next
join. Streams have no joins between them, so the decoder slows one stream for a moment instead of
all of them.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch

In = TypeVar("In")
Out = TypeVar("Out")


def stream_count(device: torch.device) -> int:
    """Two streams on a CPU with at least two threads to give; one on a GPU (its work is queued
    on the device, and a second host thread would only contend for it)."""
    return 2 if device.type == "cpu" and torch.get_num_threads() >= 2 else 1


_THREADS_LOCK = threading.Lock()


@contextmanager
def threads_per_stream(streams: int) -> Iterator[None]:
    """Share the PyTorch thread budget (``torch.get_num_threads()``) among ``streams``, restored
    on exit.

    ``torch.set_num_threads`` sets the calling thread's count and the default of threads that
    first use PyTorch afterwards, such as a fresh pool's; a thread that used PyTorch before keeps
    its own. Blocks from several threads run one after another, so budgets are never divided twice
    or restored out of order.
    """
    with _THREADS_LOCK:
        total = torch.get_num_threads()
        torch.set_num_threads(max(1, total // streams))
        try:
            yield
        finally:
            torch.set_num_threads(total)


def ordered_map(fn: Callable[[In], Out], items: Iterable[In], streams: int) -> Iterator[Out]:
    """``map(fn, items)`` over ``streams`` threads: results in input order, at most
    ``streams + 1`` items in flight (so memory does not grow with the input's length)."""
    if streams <= 1:
        yield from map(fn, items)
        return
    pending: deque[Future[Out]] = deque()
    with ThreadPoolExecutor(streams, thread_name_prefix="pose-stream") as pool:
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) > streams:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # the consumer stopped early or a batch failed
                future.cancel()
