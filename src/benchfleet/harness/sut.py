"""LoadGen system under test and query sample library, for every task (the task's worker runs batches)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import mlperf_loadgen as lg
import numpy as np

from benchfleet.benchmarks.base import Worker


class SampleCache:
    """Preprocessed samples, loaded when LoadGen asks and kept for the process's life."""

    def __init__(self, load: Callable[[int], object], count: int):
        self._load = load
        self.count = count
        self._data: dict[int, object] = {}

    def load(self, indices: list[int]) -> None:
        for i in indices:
            if i not in self._data:
                self._data[i] = self._load(i)

    def unload(self, indices: list[int]) -> None:
        # Kept: the next run of this process reuses them; LoadGen never depends on eviction.
        return None

    def samples(self, indices: list[int]) -> list:
        return [self._data[i] for i in indices]


class SUT:
    """SingleStream/MultiStream run inline on LoadGen's issue thread; Offline/Server use worker threads that
    batch what is queued (up to ``batch``): one, or the backend's ``concurrency`` where the task's worker is
    ``concurrent`` (a GPU backend overlaps one batch's host work and copies with another's compute).

    ``warm``: run by each worker thread before the test (a CUDA backend's graphs and buffers are per thread);
    the constructor returns once every thread has run it."""

    def __init__(self, worker: Worker, cache: SampleCache, scenario: str, batch: int,
                 warm: Callable[[], object] | None = None):
        self.worker, self.cache, self.scenario = worker, cache, scenario
        self.batch = max(1, batch)
        self.samples_done = 0
        self._done_lock = threading.Lock()
        self._q: queue.Queue = queue.Queue()
        self._workers: list[threading.Thread] = []
        if scenario in ("Offline", "Server"):
            n = max(1, int(getattr(worker.backend, "concurrency", 1))) if worker.concurrent else 1
            ready = threading.Barrier(n + 1)
            errors: list[BaseException] = []
            for _ in range(n):
                t = threading.Thread(target=self._work, args=(warm, ready, errors), daemon=True)
                t.start()
                self._workers.append(t)
            ready.wait()
            if errors:
                self.close()
                raise errors[0]
        elif warm is not None:
            warm()

    def _infer_and_complete(self, items: list) -> None:
        outs = [np.ascontiguousarray(o) for o in self.worker.infer(self.cache.samples([q.index for q in items]))]
        lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, o.ctypes.data, o.nbytes)
                                 for q, o in zip(items, outs, strict=True)])
        with self._done_lock:
            self.samples_done += len(items)

    def issue(self, samples: list) -> None:
        if not self._workers:
            for start in range(0, len(samples), self.batch):
                self._infer_and_complete(samples[start : start + self.batch])
        else:  # in chunks of a batch (Offline issues every sample at once: one queue operation a batch)
            for start in range(0, len(samples), self.batch):
                self._q.put(samples[start : start + self.batch])

    def _work(self, warm: Callable[[], object] | None = None, ready: threading.Barrier | None = None,
              errors: list | None = None) -> None:
        try:
            if ready is not None and ready.parties > 2:  # more than one worker: each its own engine state
                own = getattr(self.worker.backend, "own_state", None)
                if own is not None:
                    own()
            if warm is not None:
                warm()
        except BaseException as exc:  # reported by the constructor, in LoadGen's process
            if errors is not None:
                errors.append(exc)
        finally:
            if ready is not None:
                ready.wait()
        while True:
            first = self._q.get()
            if first is None:
                return
            items = list(first)
            while len(items) < self.batch:  # Server: join what else is queued, up to a batch
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._q.put(None)
                    break
                room = self.batch - len(items)
                items += nxt[:room]
                if len(nxt) > room:
                    self._q.put(nxt[room:])
            self._infer_and_complete(items)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        for _ in self._workers:
            self._q.put(None)
        for t in self._workers:
            t.join(timeout=30)
