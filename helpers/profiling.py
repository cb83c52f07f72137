"""Measure, do not assert: time per call and memory held by autograd graphs for backprop.

`saved_tensor_peak` counts the bytes of tensors that autograd saves for the backward pass while
they are alive (a saved tensor is freed with its graph), and reports the peak. For MAML this is the
unrolled inner loop (grows with k); for iMAML one Hessian-vector-product graph (flat in k).
"""

import statistics
import time
import weakref

import torch


class _SavedTensorTracker:
    def __init__(self):
        self.live = {}  # storage pointer -> [references, bytes]
        self.current = 0
        self.peak = 0

    def pack(self, t):
        key = (t.untyped_storage().data_ptr(), t.device)
        entry = self.live.get(key)
        if entry is None:
            entry = self.live[key] = [0, t.untyped_storage().nbytes()]
            self.current += entry[1]
            self.peak = max(self.peak, self.current)
        entry[0] += 1
        box = _Box(t)
        weakref.finalize(box, self._release, key)
        return box

    def _release(self, key):
        entry = self.live[key]
        entry[0] -= 1
        if entry[0] == 0:
            self.current -= entry[1]
            del self.live[key]

    @staticmethod
    def unpack(box):
        return box.tensor


class _Box:
    __slots__ = ("tensor", "__weakref__")

    def __init__(self, tensor):
        self.tensor = tensor


def saved_tensor_peak(fn, *args, **kwargs):
    """Run fn(*args, **kwargs); return (its result, peak bytes saved by autograd for backprop)."""
    tracker = _SavedTensorTracker()
    with torch.autograd.graph.saved_tensors_hooks(tracker.pack, tracker.unpack):
        result = fn(*args, **kwargs)
    return result, tracker.peak


def median_seconds(fn, *args, repeats=5, warmup=1, **kwargs):
    """Median wall time of fn(*args, **kwargs) over `repeats` calls after `warmup` calls."""
    for _ in range(warmup):
        fn(*args, **kwargs)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args, **kwargs)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
