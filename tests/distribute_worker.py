"""One CNN fit on a small real IMDB slice, in its own process, for tests/test_distribute.py.

    python tests/distribute_worker.py OUT.npz --strategy mirrored --logical-cpus 2
    TF_CONFIG=... python tests/distribute_worker.py OUT.npz --strategy multiworker

Writes the validation accuracy, epochs run, final weights and where an experiment in this
process would write its results (for --results-out) to OUT.npz (the chief's, or every
worker's when each names its own OUT).
"""

import argparse

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--strategy", default="default")
    parser.add_argument("--logical-cpus", type=int, default=1)
    parser.add_argument("--checkpoint-dir")
    parser.add_argument("--checkpoint-every", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--documents", type=int, default=600)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args()

    import tensorflow as tf

    if args.logical_cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus)
    from tl_text.training.distribute import get_strategy

    strategy = get_strategy(args.strategy)  # before any op, as the commands do
    from tl_text.classifiers.cnn import CNNClassifier
    from tl_text.data.imdb import load_imdb
    from tl_text.experiments.report import results_folder

    train = load_imdb(("train",), data_dir=args.data_dir)["train"]
    train = train.fraction(args.documents / len(train), seed=0)
    classifier = CNNClassifier("kim", vectors=None, max_tokens=5_000, sequence_length=200,
                               epochs=args.epochs, min_epochs=args.epochs, batch_size=16,
                               validation=0.25, strategy=args.strategy,
                               checkpoint_dir=args.checkpoint_dir,
                               checkpoint_every=args.checkpoint_every,
                               verbose=args.verbose).fit(train)
    np.savez(args.out, validation_accuracy=classifier.fit_info_["validation_accuracy"],
             epochs=classifier.fit_info_["epochs"],
             results_folder=str(results_folder("results", strategy)),
             **{f"w{i}": w for i, w in enumerate(classifier.model_.get_weights())})


if __name__ == "__main__":
    main()
