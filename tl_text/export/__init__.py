"""Exported models: TF Serving SavedModels with a raw-text signature, a predict command and a
REST server with TF Serving's API (`tl_text.export.predict`, `tl_text.export.serve`).

TensorFlow is imported on first use of the SavedModel API, so that the `tl-text` command, which
imports `predict` and `serve` to build its parser, starts fast.
"""

__all__ = ["ExportedModel", "export_model", "load_exported", "versions"]


def __getattr__(name: str):
    if name in __all__:
        from tl_text.export import savedmodel
        return getattr(savedmodel, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
