"""Training loops and metrics for tl_text models."""

from tl_text.training.keras_fit import FitResult, accuracy, fit, predict_proba, text_batches

__all__ = ["FitResult", "accuracy", "fit", "predict_proba", "text_batches"]
