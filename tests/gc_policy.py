"""The cyclic garbage collector's pace in the test processes (both suites' conftests call this).

A test process lives for minutes and holds about a million objects that never die: the
modules of the provider SDKs or of TensorFlow and Keras, the Kubernetes schemas, the shared
plans. CPython (3.11) runs a full collection, which walks all of them, once its oldest
generation has grown by a quarter since the last one, and at most every 10 collections of
the middle generation. Every plan and every local S3 or Prometheus client leaves tens of
thousands of short cycles behind, so that came to 30-45 full collections per process, each
0.3-0.5 s: about 50 s of the main suite's CPU and 16 s of the TensorFlow suite's (measured
with a gc.callbacks hook, December 2026). Two changes, young collections left as they are:
  - a full collection every 100 middle ones (not 10): the short cycles are still freed, a
    few tests later (6-12 full collections per process instead of 30-45);
  - what survives a full collection is frozen (gc.freeze: moved where no collection looks),
    so the next one walks only what was allocated since: 0.1-0.2 s instead of 0.6-1.0 s.
    A cycle that was alive then and dies later stays allocated: peak memory of the main
    suite's workers stayed where it was (520-740 MB), since what survives is mostly what
    never dies; the TensorFlow suite's grew from 760 to 960 MB.
Together: full collections take 6 s of the main suite's workers instead of 50 s, and 3 s of
the TensorFlow suite instead of 16 s.
"""

from __future__ import annotations

import gc
from typing import Any

FULL_EVERY = 100  # middle-generation collections per full one (CPython's default: 10)


def _freeze_survivors(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()


def pace_collections() -> None:
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_EVERY)
    if _freeze_survivors not in gc.callbacks:
        gc.callbacks.append(_freeze_survivors)
