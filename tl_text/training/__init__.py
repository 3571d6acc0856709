"""Training loops and metrics for tl_text models."""

from tl_text.training.keras_fit import FitResult, accuracy, fit, predict_proba, text_batches
from tl_text.training.transformer_fit import fit_transformer, lr_find

__all__ = ["FitResult", "accuracy", "fit", "fit_transformer", "lr_find", "predict_proba",
           "text_batches"]
