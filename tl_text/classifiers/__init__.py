"""One protocol for every model family: fit, predict_proba, label_names_, save/load, export.

See `tl_text.classifiers.base` for the protocol and `tl_text.classifiers.arms` for the named
recipes (`nb-lr`, `finetune`, `finetune+nb-lr`, ...) that the experiments and `tl-text train`
share.
"""

from tl_text.classifiers.base import TextClassifier, load_classifier
from tl_text.classifiers.cnn import CNNClassifier
from tl_text.classifiers.ensemble import Ensemble
from tl_text.classifiers.hub import HubClassifier
from tl_text.classifiers.linear import NBLogisticRegression, TfidfLogisticRegression
from tl_text.classifiers.transformer import FrozenEncoderLR, TransformerTextClassifier

__all__ = ["CNNClassifier", "Ensemble", "FrozenEncoderLR", "HubClassifier", "NBLogisticRegression",
           "TextClassifier", "TfidfLogisticRegression", "TransformerTextClassifier",
           "load_classifier"]
