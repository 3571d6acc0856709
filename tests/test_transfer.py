"""The transfer experiment end to end on tiny real slices, through scripts/transfer.py."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tl_text.cli import main
from tl_text.experiments.report import accuracy_table

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--fraction", "0.01", "--seeds", "1", "--test-fraction", "0.02", "--epochs", "2",
        "--source-epochs", "1", "--source-fraction", "0.03", "--source", "amazon-classic",
        "--verbose", "0"]


def _run_script(tmp_path, data_dir, *extra):
    args = [sys.executable, str(ROOT / "scripts" / "transfer.py"), *TINY, "--data-dir",
            str(data_dir), "--out", str(tmp_path / "out"), "--models-dir",
            str(tmp_path / "models"), "--embeddings-dir", str(tmp_path / "emb"), *extra]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_script_runs_every_arm_and_reuses_the_source(tmp_path, data_dir):
    out = _run_script(tmp_path, data_dir)
    assert "source: training a denil CNN on 429 amazon-classic reviews" in out
    assert "words updated" in out
    result = json.loads((tmp_path / "out" / "results.json").read_text())
    arms = [row["arm"] for row in result["rows"]]
    assert arms == ["glove", "amazon-emb", "finetune", "tfidf-lr", "nb-lr", "glove+nb-lr",
                    "finetune+nb-lr"]
    for row in result["rows"]:
        assert row["train_docs"] == 250 and row["test_docs"] == 500
        assert 0.4 < row["accuracy"] <= 1.0
    # with 250 reviews the bag-of-words baselines are already clearly above chance
    assert min(r["accuracy"] for r in result["rows"] if r["arm"].endswith("-lr")) > 0.6
    table = (tmp_path / "out" / "results.md").read_text()
    assert "| finetune+nb-lr |" in table and "0.01 (250 docs)" in table
    assert (tmp_path / "out" / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((tmp_path / "out" / "results.csv").read_text().splitlines()) == 8
    tuned = list((tmp_path / "emb").glob("amazon-classic-denil-glove-6b-50d-*.w2v.txt"))
    assert len(tuned) == 1 and int(tuned[0].read_text().split(" ", 1)[0]) > 1000
    source = next((tmp_path / "models").glob("source-amazon-classic-denil-*"))
    metadata = json.loads((source / "1" / "metadata.json").read_text())  # an export
    assert metadata["classifier"]["kind"] == "cnn" and metadata["documents"] == 429
    assert set(result["classifiers"]) == {"glove", "amazon-emb", "finetune", "tfidf-lr", "nb-lr"}
    assert result["classifiers"]["finetune"]["config"]["init_from"] == str(source / "1")

    again = _run_script(tmp_path, data_dir, "--arms", "finetune", "--restart")
    assert "source: reusing" in again and "source: training" not in again


def test_transformer_arms_with_a_pretrained_folder(tmp_path, data_dir, tiny_electra):
    out = _run_script(tmp_path, data_dir, "--arms",
                      "nb-lr,bert,bert-transfer,frozen-lr,bert-transfer+nb-lr",
                      "--pretrained", str(tiny_electra), "--max-length", "32",
                      "--bert-epochs", "1", "--bert-source-fraction", "0.01",
                      "--bert-learning-rate", "1e-3", "--trainer", "ktrain")
    assert "transformer source: training" in out and " on 143 amazon-classic reviews" in out
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["rows"]
    assert [r["arm"] for r in rows] == ["nb-lr", "bert", "bert-transfer", "frozen-lr",
                                        "bert-transfer+nb-lr"]
    assert all(0.3 < r["accuracy"] <= 1.0 and r["test_docs"] == 500 for r in rows)
    assert "ktrain trainer" in rows[1]["notes"] and rows[1]["epochs"] == 1
    source = next((tmp_path / "models").glob("source-amazon-classic-tiny-electra*"))
    metadata = json.loads((source / "1" / "metadata.json").read_text())
    assert metadata["classifier"]["kind"] == "transformer" and metadata["documents"] == 129

    again = _run_script(tmp_path, data_dir, "--arms", "bert-transfer", "--pretrained",
                        str(tiny_electra), "--max-length", "32", "--bert-epochs", "1",
                        "--bert-source-fraction", "0.01", "--bert-learning-rate", "1e-3",
                        "--trainer", "ktrain", "--restart")
    assert "transformer source: reusing" in again


def test_bad_arms_are_refused(capsys):
    assert main(["transfer", "--arms", "glove,gpt"]) == 2
    assert "unknown or repeated arm in 'gpt'" in capsys.readouterr().err
    assert main(["transfer", "--arms", "glove+nb-lr"]) == 2
    assert "needs glove and nb-lr listed before it" in capsys.readouterr().err


@pytest.mark.parametrize("seeds", ["0", "-1"])
def test_seeds_below_one_are_refused_before_any_work(seeds, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["transfer", "--seeds", seeds, "--data-dir", str(tmp_path), "--out",
                 str(out)]) == 2
    assert f"--seeds must be at least 1, got {seeds}" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "imdb").exists()


def test_summary_table_means_and_stds():
    rows = [{"fraction": 0.05, "arm": "a", "seed": s, "accuracy": acc, "train_docs": 1250,
             "test_docs": 25000} for s, acc in enumerate([0.80, 0.90])]
    table = accuracy_table(rows, "IMDB")
    assert "| a | 85.00 ± 5.00 |" in table
    assert "25,000 IMDB test reviews, mean ± std over 2 seed(s)" in table


@pytest.mark.parametrize("option, value, message", [
    ("--fraction", "0", "fractions must be in (0, 1]"),
    ("--fraction", "0.05,1.5", "fractions must be in (0, 1]"),
    ("--test-fraction", "-0.1", "fraction must be in (0, 1]"),
    ("--source-fraction", "2", "fraction must be in (0, 1]")])
def test_fractions_must_be_in_range(option, value, message, capsys):
    with pytest.raises(SystemExit):
        main(["transfer", option, value])
    assert f"argument {option}: {message}: {value}" in capsys.readouterr().err


def test_an_interrupted_run_keeps_the_seeds_it_finished(tmp_path, data_dir, monkeypatch):
    from tl_text.classifiers import NBLogisticRegression
    from tl_text.experiments import transfer

    fitted = []
    original = NBLogisticRegression._fit

    def fail_on_second_seed(self, train, valid):
        fitted.append(train.name)
        if len(fitted) > 1:
            raise KeyboardInterrupt
        return original(self, train, valid)

    monkeypatch.setattr(NBLogisticRegression, "_fit", fail_on_second_seed)
    cfg = transfer.TransferConfig(fractions=[0.01], seeds=2, arms=["nb-lr"], test_fraction=0.02,
                                  data_dir=str(data_dir), out=str(tmp_path / "out"))
    with pytest.raises(KeyboardInterrupt):
        transfer.run(cfg)
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["rows"]
    assert [(r["arm"], r["seed"]) for r in rows] == [("nb-lr", 0)]
    assert "| nb-lr |" in (tmp_path / "out" / "results.md").read_text()
