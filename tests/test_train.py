"""`tl-text train` and `tl-text evaluate` on a user's own file and on the real corpora."""

import csv
import json
import re

import numpy as np
import pytest

from test_classifiers import synthetic
from tl_text.classifiers.arms import ARMS
from tl_text.cli import main
from tl_text.export.savedmodel import load_exported


def export_difference(printed: str) -> float:
    """The largest export-vs-memory probability difference that `--verify-export` printed."""
    return float(re.search(r"in-memory ones by at most (\S+)\n", printed).group(1))


def write_csv(path, dataset):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["review", "stars"])
        for text, label in zip(dataset.texts, dataset.labels):
            writer.writerow([text, dataset.label_names[label]])
    return path


@pytest.mark.parametrize("spec", ["nb-lr", "kim+tfidf-lr"])
def test_train_on_a_csv_exports_evaluates_and_predicts(spec, tmp_path, capsys):
    data = write_csv(tmp_path / "reviews.csv", synthetic(300, classes=3))
    out = tmp_path / "model"
    code = main(["train", str(data), "--text-column", "review", "--label-column", "stars",
                 "--model", spec, "--test-split", "0.2", "--epochs", "3", "--min-epochs", "3",
                 "--sequence-length", "20", "--verify-export", "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "macro-F1" in printed.out and "export check" in printed.out
    metadata = json.loads((out / "1" / "metadata.json").read_text())
    assert metadata["labels"] == ["bad", "good", "meh"]  # the column's sorted values
    assert metadata["metrics"]["accuracy"] > 0.8 and metadata["metrics"]["documents"] == 60
    assert export_difference(printed.out) <= 1e-5
    assert metadata["config"]["spec"] == spec and metadata["training_data"]["documents"] == 240
    assert len(metadata["training_data"]["fingerprint"]) == 12

    assert main(["predict", "--model", str(out), "a superb and wonderful film."]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "good"

    assert main(["evaluate", str(out), str(data), "--text-column", "review", "--label-column",
                 "stars", "--out", str(tmp_path / "eval")]) == 0
    result = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert result["documents"] == 300 and len(result["confusion_matrix"]) == 3
    assert (tmp_path / "eval" / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_train_refuses_bad_options_before_training(tmp_path, capsys):
    data = write_csv(tmp_path / "reviews.csv", synthetic(40))
    assert main(["train", str(data), "--text-column", "review", "--label-column", "stars",
                 "--model", "nb-lr+gpt", "--out", str(tmp_path / "m")]) == 2
    assert "unknown or repeated arm" in capsys.readouterr().err
    assert main(["train", str(data), "--text-column", "text", "--out", str(tmp_path / "m")]) == 2
    assert "no column 'text'" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
    with pytest.raises(SystemExit):
        main(["train", str(data), "--model", "nb-lr"])  # --out is required


@pytest.mark.data
def test_five_star_earphone_reviews_end_to_end(tmp_path, data_dir, capsys):
    data = data_dir / "amazon" / "more" / "earphones" / "AllProductReviews.csv.gz"
    out = tmp_path / "stars"
    code = main(["train", str(data), "--text-column", "ReviewBody", "--label-column",
                 "ReviewStar", "--skip-empty", "--model", "nb-lr", "--fraction", "0.2",
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    model = load_exported(out)
    assert model.label_names == ["1", "2", "3", "4", "5"]
    metrics = model.metadata["metrics"]
    assert 0.5 < metrics["accuracy"] < 0.95
    assert np.array(metrics["confusion_matrix"]).shape == (5, 5)
    predicted = model.predict(["Worst earphones ever, broke in a day.",
                               "Superb bass, love it."])
    assert [p["label"] for p in predicted] == ["1", "5"]


@pytest.fixture(scope="module")
def arm_options(tmp_path_factory, tiny_electra):
    """Small settings under which every arm trains in seconds, sources cached per module."""
    models = tmp_path_factory.mktemp("sources")
    return ["--epochs", "1", "--min-epochs", "1", "--sequence-length", "20", "--source-epochs",
            "1", "--source-fraction", "0.03", "--source", "amazon-classic", "--models-dir",
            str(models), "--embeddings-dir",
            str(models), "--pretrained", str(tiny_electra), "--max-length", "32",
            "--bert-epochs", "1", "--bert-source-fraction", "0.01"]


@pytest.mark.parametrize("spec", [*ARMS, "self-finetune+self-nb-lr"])
def test_every_arm_of_the_experiments_trains_and_exports(spec, arm_options, data_dir, tmp_path,
                                                         capsys):
    data = write_csv(tmp_path / "reviews.csv", synthetic(120))
    unlabelled = tmp_path / "unlabelled.txt"
    unlabelled.write_text("\n".join(synthetic(200, seed=1).texts))
    out = tmp_path / spec
    code = main(["train", str(data), "--text-column", "review", "--label-column", "stars",
                 "--model", spec, "--data-dir", str(data_dir), "--verify-export",
                 "--unlabelled", str(unlabelled), "--teacher", "kim+nb-lr",
                 "--out", str(out), *arm_options])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    metadata = load_exported(out).metadata
    assert metadata["labels"] == ["neg", "pos"] and metadata["classifier"]["kind"]
    assert export_difference(printed.out) <= 1e-5


def test_self_trained_arms_learn_from_the_documents_the_fraction_leaves_out(tmp_path):
    from tl_text.experiments.train import TrainConfig, load_data

    data = write_csv(tmp_path / "reviews.csv", synthetic(200))
    options = {"text_column": "review", "label_column": "stars", "fraction": 0.25,
               "test_split": 0.2, "out": str(tmp_path / "m")}
    train, test, unlabelled = load_data(TrainConfig(data=str(data), spec="self-nb-lr", **options))
    assert (len(train), len(test), len(unlabelled)) == (40, 40, 120)
    assert not set(unlabelled) & set(train.texts) and not set(unlabelled) & set(test.texts)
    assert load_data(TrainConfig(data=str(data), spec="nb-lr", **options))[2] == []
