"""tl_text: transfer learning for text classification with Keras 2 (tf_keras) and TensorFlow."""

import os

from tl_text.malloc import keep_freed_memory

# Keras 2 everywhere: our code imports tf_keras itself, but ktrain (and any user code) reach
# Keras through `tf.keras`, which resolves to Keras 3 unless this is set before TensorFlow
# loads. An explicit user setting wins.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
keep_freed_memory()

__version__ = "0.1.0"
