"""Counter-based randomness: a draw is a pure hash of its keys (seed, level seed, rollout, step, ...).

Results then never depend on batch order, chunking or the number of workers.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a fast, well-mixed hash of uint64 values."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def hash_keys(*keys) -> np.ndarray:
    """One uint64 per element of the broadcast keys (each an int or an integer array)."""
    arrays = np.broadcast_arrays(*(np.asarray(k, dtype=np.int64).astype(np.uint64) for k in keys))
    h = np.zeros(arrays[0].shape, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for a in arrays:
            h = mix64(h + _GOLDEN + a)
    return h


def uniforms(*keys) -> np.ndarray:
    """Uniform floats in [0, 1) from the keys (53 random bits each)."""
    return (hash_keys(*keys) >> np.uint64(11)).astype(np.float64) / float(2**53)
