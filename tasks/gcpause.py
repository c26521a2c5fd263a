"""Python's cyclic garbage collector paused while a plain comprehension builds one list per row.

Such lists hold only strings and never form reference cycles, yet every one that survives counts towards the
collector's next pass, and at 100,000 rows those passes (some of them over every live object) cost more than the
work. Measured on a 100,000-row generated export (`examples.generate --rows 100000 --seed 3`), CPU time, 3 runs
each, the collector's own share in brackets:

- normalize(): 0.56-0.59 s paused (0.03 s, 5 collections), 0.81-0.87 s not (0.28-0.30 s, 523 collections).
  Of that, gather_list 0.17 s, unknown_options 0.13 s and the member emails' lowercasing 0.12 s of collector
  time when each alone runs unpaused; split_checkboxes' per-distinct reading gains nothing (few distinct answers).
- FileSource.read_values (the cells as lists): 0.61-0.72 s paused (0.03 s), 0.68-0.74 s not (0.11 s).

So the pause is used at those sites only. Only comprehensions over plain values run paused (pandas objects, which
can form cycles, are made outside), and the collector's state before the pause is restored after it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off for the block, back on afterwards if it was on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
