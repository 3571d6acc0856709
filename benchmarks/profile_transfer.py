"""Where the time of `scripts/transfer.py --fraction 0.05` goes, for one seed's CNN units.

    TL_TEXT_DATA=../shared/data python benchmarks/profile_transfer.py --arms glove,finetune

Times the data loading before the first unit, then, for each CNN arm (seed `--seed`), the
steps of `CNNClassifier.fit` (vocabulary, embedding matrix, network build, every epoch and
the fit's remainder: compiling, tracing, checkpoints), and the test prediction (tokenising
the 25,000 reviews alone, then the whole model, at each `--batch-sizes`). Prints one JSON
object; seconds are wall time.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager

import tf_keras

from tl_text.classifiers import cnn
from tl_text.classifiers.arms import Sources, build
from tl_text.data import load_imdb
from tl_text.experiments.transfer import TransferConfig

TIMES: dict[str, float] = {}


@contextmanager
def timed(name: str):
    started = time.perf_counter()
    yield
    TIMES[name] = TIMES.get(name, 0.0) + time.perf_counter() - started


def wrap(owner, attribute: str, name: str) -> None:
    """Add the time of every call of `owner.attribute` to TIMES[name]."""
    function = getattr(owner, attribute)

    def timed_call(*args, **kwargs):
        with timed(name):
            return function(*args, **kwargs)
    setattr(owner, attribute, timed_call)


class EpochTimes(tf_keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 1:
            TIMES.setdefault("epoch_first_step", []).append(time.perf_counter() - self.started)

    def on_test_begin(self, logs=None):
        self.training = time.perf_counter() - self.started

    def on_epoch_end(self, epoch, logs=None):
        TIMES.setdefault("epoch_train", []).append(self.training)
        TIMES.setdefault("epoch_total", []).append(time.perf_counter() - self.started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arms", default="glove,amazon-emb,finetune")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-sizes", default="256,2048")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    cfg = TransferConfig(verbose=0, data_dir=args.data_dir)
    report = {}
    with timed("load_imdb"):
        imdb = load_imdb(("train", "test"), data_dir=cfg.data_dir)
    with timed("source_cnn"):
        sources = Sources(cfg, log=lambda message: None, exclude=imdb["test"].texts)
        sources.cnn()
    report["before_first_unit"] = dict(TIMES)
    test = imdb["test"]
    train = imdb["train"].fraction(0.05, seed=args.seed)
    for name, attribute in (("vocabulary", "_vectorizer"), ("matrix", "_matrix"),
                            ("network", "_network"), ("source", "_source")):
        wrap(cnn.CNNClassifier, attribute, name)
    fit = tf_keras.Model.fit

    def fit_with_times(self, *a, callbacks=None, **k):
        with timed("keras_fit"):
            return fit(self, *a, callbacks=[*(callbacks or []), EpochTimes()], **k)
    tf_keras.Model.fit = fit_with_times
    for arm in args.arms.split(","):
        TIMES.clear()
        classifier = build(arm, cfg, args.seed, sources)
        with timed("fit"):
            classifier.fit(train)
        vectorizer = classifier.model_.get_layer("sentence_vectorizer")
        for batch in map(int, args.batch_sizes.split(",")):
            started = time.perf_counter()
            for start in range(0, len(test), batch):
                vectorizer(test.texts[start:start + batch])
            TIMES[f"tokenise_test_batch{batch}"] = time.perf_counter() - started
            classifier.__dict__.pop("_predict_function", None)
            with timed(f"predict_test_batch{batch}"):
                classifier.predict_proba(test.texts, batch_size=batch)
        epochs = TIMES.pop("epoch_total")
        report[arm] = {**{k: round(v, 2) for k, v in TIMES.items() if isinstance(v, float)},
                       "epochs": len(epochs), "epoch_total": [round(e, 2) for e in epochs],
                       "epoch_train": [round(e, 2) for e in TIMES["epoch_train"]],
                       "epoch_first_step": [round(e, 2) for e in TIMES["epoch_first_step"]],
                       "fit_outside_epochs": round(TIMES["fit"] - sum(epochs), 2),
                       "fit_info": classifier.fit_info_}
        print(json.dumps({arm: report[arm]}), flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
