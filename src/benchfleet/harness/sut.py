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
    """SingleStream/MultiStream run inline on LoadGen's issue thread; Offline/Server use a worker thread
    that batches what is queued (up to ``batch``)."""

    def __init__(self, worker: Worker, cache: SampleCache, scenario: str, batch: int):
        self.worker, self.cache, self.scenario = worker, cache, scenario
        self.batch = max(1, batch)
        self.samples_done = 0
        self._q: queue.Queue = queue.Queue()
        self._worker: threading.Thread | None = None
        if scenario in ("Offline", "Server"):
            self._worker = threading.Thread(target=self._work, daemon=True)
            self._worker.start()

    def _infer_and_complete(self, items: list) -> None:
        outs = [np.ascontiguousarray(o) for o in self.worker.infer(self.cache.samples([q.index for q in items]))]
        lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, o.ctypes.data, o.nbytes)
                                 for q, o in zip(items, outs, strict=True)])
        self.samples_done += len(items)

    def issue(self, samples: list) -> None:
        if self._worker is None:
            for start in range(0, len(samples), self.batch):
                self._infer_and_complete(samples[start : start + self.batch])
        else:
            for s in samples:
                self._q.put(s)

    def _work(self) -> None:
        while True:
            first = self._q.get()
            if first is None:
                return
            items = [first]
            while len(items) < self.batch:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._q.put(None)
                    break
                items.append(nxt)
            self._infer_and_complete(items)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        if self._worker is not None:
            self._q.put(None)
            self._worker.join(timeout=30)
