"""The malloc thresholds tl_text sets on import: on by default, off on request, and the same
numbers either way."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

from tl_text.malloc import keep_freed_memory

FASTTEXT = "amazon/amazon_polarity_test_head6459.ft.txt"
STEPS = """
import hashlib, itertools, json, sys
import numpy as np
import tl_text.malloc
import tensorflow as tf, tf_keras
from tl_text.data.amazon import iter_fasttext
from tl_text.models import kim_cnn, make_vectorizer

examples = list(itertools.islice(iter_fasttext(sys.argv[1]), 256))
texts = [e.text for e in examples]
tf_keras.utils.set_random_seed(0)
vectorizer = make_vectorizer(texts, 5_000, 200)
matrix = np.random.default_rng(0).normal(scale=0.05, size=(vectorizer.vocabulary_size(), 16))
model = kim_cnn(vectorizer, matrix.astype(np.float32))
model.compile(tf_keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
model.fit(tf.constant(texts), np.array([e.label for e in examples]), batch_size=64, epochs=2,
          shuffle=False, verbose=0)
weights = b"".join(w.numpy().tobytes() for w in model.weights)
print(json.dumps([tl_text.malloc.keep_freed_memory(), hashlib.sha256(weights).hexdigest()]))
"""


def test_applied_on_glibc_unless_told_otherwise(monkeypatch):
    assert keep_freed_memory()
    monkeypatch.setenv("TL_TEXT_MALLOC", "system")
    assert not keep_freed_memory()


@pytest.mark.data
def test_training_gives_the_same_weights_with_either_malloc(data_dir):
    results = []
    for setting in ("system", "tl_text"):
        env = {k: v for k, v in os.environ.items() if k != "TL_TEXT_MALLOC"}
        if setting == "system":
            env["TL_TEXT_MALLOC"] = "system"
        out = subprocess.run([sys.executable, "-c", STEPS, str(data_dir / FASTTEXT)], env=env,
                             check=True, stdout=subprocess.PIPE, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    (system_applied, system_weights), (applied, weights) = results
    assert (system_applied, applied) == (False, True)
    assert weights == system_weights
    assert weights != hashlib.sha256(b"").hexdigest()
