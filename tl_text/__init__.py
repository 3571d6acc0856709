"""tl_text: transfer learning for text classification with Keras 2 (tf_keras) and TensorFlow."""

__version__ = "0.1.0"
