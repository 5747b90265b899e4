"""How every benchmark measures: warm-up, repeated samples, contenders side by side.

``side_by_side`` times several functions in one run, interleaving them: each
round runs every contender once (one sample), in an order that rotates from
round to round, so a slow spell of the machine (other processes, frequency
changes) falls on all contenders alike instead of on whichever ran last. The
figure kept for each contender is the median of its samples.
"""

import gc
import math
import statistics
import time
from dataclasses import dataclass

METHOD = (
    "Each figure is the median of repeated samples, taken after a warm-up. "
    "Contenders that are compared are measured side by side in the same run: "
    "every round takes one sample of each, in an order that rotates from round "
    "to round. A sample times a loop of calls long enough to dwarf the clock's "
    "resolution (`time.perf_counter`) and divides by the number of calls; the "
    "garbage collector is paused while it runs. Each sample starts with one untimed "
    "call, so that it measures calls made one after another, as in a training loop: "
    "a library whose worker threads fell asleep while another contender ran would "
    "otherwise pay for waking them (milliseconds on a busy machine) in every sample."
)


@dataclass(frozen=True)
class Timing:
    """Seconds per call of one contender: median, quartiles, best, and how it was sampled."""

    median: float
    q1: float
    q3: float
    best: float
    samples: int
    calls_per_sample: int

    @property
    def spread(self):
        """Interquartile range relative to the median (0.05 = +-2.5 %)."""
        return (self.q3 - self.q1) / self.median if self.median > 0 else 0.0


def _sample(fn, number):
    """Seconds per call of fn over `number` calls, after one untimed call."""
    # The untimed call wakes up whatever went to sleep while another contender
    # ran (a library's worker threads, caches): the sample measures fn running
    # call after call, as it does inside a training loop.
    fn()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - start) / number
    finally:
        if gc_was_enabled:
            gc.enable()


def calls_per_sample(fn, min_sample_time=0.02, max_calls=100_000, trials=3):
    """How many calls of fn one sample needs to last at least min_sample_time seconds.

    Sized on the fastest of a few single calls, so that one call stalled by the
    machine does not shrink every sample to a single call, all stalls included.
    """
    fastest = min(_sample(fn, 1) for _ in range(trials))
    return max(1, min(max_calls, math.ceil(min_sample_time / max(fastest, 1e-9))))


def side_by_side(contenders, repeats=15, warmup=3, min_sample_time=0.02, number=None):
    """Time each function of `contenders` (dict name -> zero-argument callable), interleaved.

    Every contender is first called `warmup` times. Each sample makes `number`
    calls; when `number` is None it is calibrated for each contender so that a
    sample lasts at least `min_sample_time` seconds. Then `repeats` rounds each
    take one sample of every contender, the order rotating by one from round
    to round.

    Returns a dict name -> Timing (seconds per call).
    """
    names = list(contenders)
    calls = {}
    for name in names:
        for _ in range(warmup):
            contenders[name]()
        calls[name] = number or calls_per_sample(contenders[name], min_sample_time)
    samples = {name: [] for name in names}
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(_sample(contenders[name], calls[name]))
    timings = {}
    for name in names:
        q1, q2, q3 = statistics.quantiles(samples[name], n=4, method="inclusive")
        timings[name] = Timing(q2, q1, q3, min(samples[name]), len(samples[name]), calls[name])
    return timings
