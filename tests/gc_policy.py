"""The cyclic garbage collector's pace in the test processes (both suites' conftests call this).

A test process lives for minutes and holds about a million objects that never die: the
modules of the provider SDKs or of TensorFlow and Keras, the Kubernetes schemas, the shared
plans. CPython (3.11) runs a full collection, which walks all of them, once its oldest
generation has grown by a quarter since the last one, and at most every 10 collections of
the middle generation. Every plan and every local S3 or Prometheus client leaves tens of
thousands of short cycles behind, so that came to 30-45 full collections per process, each
0.3-0.5 s: about 60 s of the main suite's CPU and 16 s of the TensorFlow suite's
(measured with a gc.callbacks hook, December 2026). A full collection every 100 middle ones
still frees those cycles, a few tests later (a few hundred MB at most per process), and
costs a tenth of that. Young collections, where most cycles die, are left as they are.
"""

from __future__ import annotations

import gc

FULL_EVERY = 100  # middle-generation collections per full one (CPython's default: 10)


def pace_collections() -> None:
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_EVERY)
