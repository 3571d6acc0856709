"""Numeric precision of a model build: float32, or bfloat16 compute (Keras `mixed_bfloat16`).

    with policy("bfloat16"):
        model = kim_cnn(...)       # layers compute in bfloat16, variables stay float32

The policy is set only while a model is built and restored afterwards, so no global setting
is left behind. Layers keep their policy in their config, so a saved model reloads with it.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from tl_text.errors import ConfigError

PRECISIONS = ("float32", "bfloat16")
_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


def check_precision(precision: str) -> str:
    """`precision` itself; ConfigError unless it is one of PRECISIONS."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    return precision


@contextlib.contextmanager
def policy(precision: str) -> Iterator[None]:
    """Build layers with the Keras dtype policy of `precision`; the previous one is restored."""
    import tf_keras  # importing PRECISIONS alone (command-line choices) needs no TensorFlow

    previous = tf_keras.mixed_precision.global_policy()
    tf_keras.mixed_precision.set_global_policy(_POLICIES[check_precision(precision)])
    try:
        yield
    finally:
        tf_keras.mixed_precision.set_global_policy(previous)
