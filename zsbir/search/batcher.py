"""Micro-batching of concurrent searches: one worker thread, one forward pass per batch.

``zsbir serve`` hands every search to a :class:`Batcher`. Its worker thread takes the
oldest waiting search, waits up to ``batch_wait_ms`` for more (at most ``max_batch`` in
all), and answers them together with :func:`search_batch`: the sketches are decoded, go
through the VGG-16 extractor in one pass, are embedded, and are ranked in one FAISS call.
The event loop of the web server never runs the network, so the page, static files and
photos are served while a batch runs. At most ``max_queue`` searches are in flight
(waiting or running); :meth:`Batcher.submit` refuses more with :class:`QueueFull`, which
the server answers with ``503`` and ``Retry-After``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zsbir.features.images import ImageReadError
from zsbir.search.retriever import Hit, Retriever

log = logging.getLogger(__name__)

# A batch of (sketch bytes, k) in, one answer per search out: its hits, or its own error.
SearchFn = Callable[[Sequence[bytes], Sequence[int]], list["list[Hit] | Exception"]]


class QueueFull(RuntimeError):
    """``max_queue`` searches are in flight already."""


def search_batch(retriever: Retriever, sketches: Sequence[bytes], ks: Sequence[int]) -> list[
    list[Hit] | Exception
]:
    """Answer several searches at once, each as :meth:`Retriever.search` would alone.

    One extractor pass for the batch (``features.batch_size`` images at a time), then
    each sketch's embedding on its own (so the seeded photo-space sampling of
    ``eval.space: photo`` is the one a lone search draws), then one FAISS search for
    ``max(ks)`` cut to each ``k``. Scores equal a lone search's up to float32 summation
    order in the batched convolutions (~1e-6); a sketch that cannot be decoded gets its
    :class:`ImageReadError` and does not fail the others.
    """
    answers: list[list[Hit] | Exception] = [ImageReadError("not searched")] * len(sketches)
    tensors, rows = [], []
    for i, data in enumerate(sketches):
        try:
            tensors.append(retriever.decode(data, "sketch"))  # (3, S, S) uint8
            rows.append(i)
        except ImageReadError as err:
            answers[i] = err
    if not rows:
        return answers
    feats = retriever.forward(tensors)  # (B, D_F), one pass
    emb = np.concatenate(
        [retriever.embed_features(feats[j : j + 1], "sketch") for j in range(len(rows))]
    )  # (B, E)
    assert retriever.index is not None
    ranked = retriever.index.rank(emb, max(ks[i] for i in rows))
    for j, i in enumerate(rows):
        answers[i] = ranked[j][: ks[i]]
    return answers


@dataclass
class _Job:
    data: bytes
    k: int
    future: Future[list[Hit]] = field(default_factory=Future)


@dataclass
class BatchStats:
    """Counters of the worker, for ``/api/health`` and the load benchmark."""

    batches: int = 0
    searches: int = 0
    largest: int = 0
    busy_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        mean = self.searches / self.batches if self.batches else 0.0
        return {"batches": self.batches, "searches": self.searches, "largest_batch": self.largest,
                "mean_batch": round(mean, 2), "busy_s": round(self.busy_s, 3)}


class Batcher:
    """A bounded queue of searches and the one thread that answers them in batches."""

    def __init__(
        self, run: SearchFn, max_batch: int = 16, batch_wait_ms: float = 5.0,
        max_queue: int = 64,
    ) -> None:
        self.run = run
        self.max_batch = max_batch
        self.wait_s = batch_wait_ms / 1000.0
        self.max_queue = max_queue
        self.stats = BatchStats()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._thread = threading.Thread(target=self._loop, name="zsbir-batcher", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Searches waiting or running now."""
        return self._in_flight

    def submit(self, data: bytes, k: int) -> Future[list[Hit]]:
        """Queue one search; :class:`QueueFull` when ``max_queue`` are in flight."""
        with self._lock:
            if self._in_flight >= self.max_queue:
                raise QueueFull(f"{self._in_flight} searches in flight (max_queue)")
            self._in_flight += 1
        job = _Job(data, k)
        self._jobs.put(job)
        return job.future

    def retry_after_s(self) -> int:
        """Seconds until the queue has likely drained by one batch (at least 1)."""
        per_batch = self.stats.busy_s / self.stats.batches if self.stats.batches else 1.0
        return max(1, round(per_batch * self.depth / self.max_batch))

    def close(self) -> None:
        """Stop the worker after the searches already queued."""
        self._jobs.put(None)
        self._thread.join(timeout=30)

    # ------------------------------------------------------------------- worker
    def _collect(self, first: _Job) -> tuple[list[_Job], bool]:
        """``first`` plus whatever arrives within the wait, up to ``max_batch``."""
        batch, deadline = [first], time.monotonic() + self.wait_s
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                job = self._jobs.get(timeout=remaining) if remaining > 0 else self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return batch, True
            batch.append(job)
        return batch, False

    def _loop(self) -> None:
        stop = False
        while not stop:
            first = self._jobs.get()
            if first is None:
                return
            batch, stop = self._collect(first)
            live = [job for job in batch if job.future.set_running_or_notify_cancel()]
            start = time.perf_counter()
            try:
                if live:
                    answers = self.run([j.data for j in live], [j.k for j in live])
                    for job, answer in zip(live, answers, strict=True):
                        if isinstance(answer, Exception):
                            job.future.set_exception(answer)
                        else:
                            job.future.set_result(answer)
            except Exception as err:  # the whole batch failed: every search hears why
                log.exception("search batch of %d failed", len(live))
                for job in live:
                    if not job.future.done():
                        job.future.set_exception(err)
            finally:
                with self._lock:
                    self._in_flight -= len(batch)
                self.stats.batches += 1 if live else 0
                self.stats.searches += len(live)
                self.stats.largest = max(self.stats.largest, len(live))
                self.stats.busy_s += time.perf_counter() - start
