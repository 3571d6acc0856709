"""The cross-domain matrix: fixed held-out splits, matrix plumbing and report, on real slices."""

import csv
import json

import numpy as np
import pytest

from tl_text.cli import main
from tl_text.errors import ConfigError
from tl_text.experiments.crossdomain import load_domains, matrices, summarize


def test_held_out_splits_are_fixed_stratified_and_disjoint(data_dir):
    domains = load_domains(["books", "kitchen", "amazon"], 1600, 400, data_dir)
    assert [d.name for d in domains] == ["books", "kitchen", "amazon"]
    books, kitchen, amazon = domains
    for d in (books, kitchen):  # Blitzer: 1,000 + 1,000 -> 800 + 800 train, 200 + 200 test
        assert d.train.class_counts() == {"neg": 800, "pos": 800}
        assert d.test.class_counts() == {"neg": 200, "pos": 200}
        assert not set(d.train.ids) & set(d.test.ids)
        assert {e for e in d.test.extra["domain"]} == {d.train.extra["domain"][0]}
    # amazon = the fastText polarity head only (3,137 neg + 3,322 pos), split stratified
    assert amazon.test.class_counts() == {"neg": 194, "pos": 206}
    assert len(amazon.train) == 1600 and not set(amazon.train.ids) & set(amazon.test.ids)
    assert all(i.startswith("amazon_polarity") for i in amazon.train.ids + amazon.test.ids)
    again = load_domains(["kitchen", "books"], 1600, 400, data_dir)
    assert again[1].test.ids == books.test.ids and again[0].train.ids == kitchen.train.ids


def test_bad_sizes_and_domains_are_config_errors(data_dir):
    with pytest.raises(ConfigError, match="--test-size 2000 leaves no training reviews"):
        load_domains(["books", "dvd"], 100, 2000, data_dir)
    with pytest.raises(ConfigError, match="unknown domain"):
        load_domains(["books", "cars"], 100, 100, data_dir)


def test_matrix_command_end_to_end(tmp_path, data_dir, capsys):
    out = tmp_path / "out"
    code = main(["crossdomain", "--domains", "imdb,books,kitchen", "--model", "nb-lr,kim",
                 "--train-size", "200", "--test-size", "100", "--epochs", "1", "--verbose",
                 "0", "--data-dir", str(data_dir), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 4 * 3  # models x (3 domains + ALL) x 3 test domains
    assert {(r["train"], r["test_docs"]) for r in rows if r["train"] == "ALL"} == {("ALL", "100")}
    assert {r["train_docs"] for r in rows if r["train"] == "ALL"} == {"600"}

    result = json.loads((out / "results.json").read_text())
    nb = result["matrices"]["nb-lr"]
    assert nb["train"] == ["imdb", "books", "kitchen", "ALL"]
    assert nb["test"] == ["imdb", "books", "kitchen"]
    acc = np.array(nb["accuracy"])
    by_cell = {(r["train"], r["test"]): float(r["accuracy"]) for r in rows
               if r["model"] == "nb-lr"}
    assert acc[1, 2] == by_cell[("books", "kitchen")]
    books = nb["rows"][1]
    assert books["in_domain"] == acc[1, 1]
    assert books["drop"] == pytest.approx(acc[1, 1] - (acc[1, 0] + acc[1, 2]) / 2)
    assert nb["rows"][3]["drop"] is None
    # 200 reviews are enough for the bag-of-words model to be well above chance in-domain
    assert np.mean(np.diag(acc[:3])) > 0.65

    table = (out / "results.md").read_text()
    assert "| train \\ test | imdb | books | kitchen | in-domain | out-of-domain | drop |" in table
    assert f"| books | {100 * acc[1, 0]:.1f} | **{100 * acc[1, 1]:.1f}** |" in table
    assert "**kim**" in table and "ALL vs. the in-domain models" in table
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_options_exit_2_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["crossdomain", "--domains", "books,cars", "--out", str(out)]) == 2
    assert "unknown domain(s) cars" in capsys.readouterr().err
    assert main(["crossdomain", "--domains", "books", "--out", str(out)]) == 2
    assert "need at least two different domains" in capsys.readouterr().err
    assert main(["crossdomain", "--model", "bert", "--out", str(out)]) == 2
    assert "unknown model(s) bert" in capsys.readouterr().err
    assert main(["crossdomain", "--train-size", "0", "--out", str(out)]) == 2
    assert not out.exists()


def test_drop_is_in_domain_minus_mean_out_of_domain_over_seeds():
    def row(train, test, seed, acc):
        return {"model": "m", "train": train, "test": test, "seed": seed, "accuracy": acc,
                "train_docs": 10, "test_docs": 4}
    rows = [row("a", "a", 0, 0.9), row("a", "b", 0, 0.6), row("a", "a", 1, 0.8),
            row("a", "b", 1, 0.7), row("b", "a", 0, 0.5), row("b", "b", 0, 1.0),
            row("ALL", "a", 0, 0.85), row("ALL", "b", 0, 0.95)]
    m = matrices(rows)["m"]
    assert m["accuracy"][0] == pytest.approx([0.85, 0.65])
    assert m["std"][0] == pytest.approx([0.05, 0.05])
    assert m["rows"][0]["drop"] == pytest.approx(0.20)
    assert m["rows"][1]["drop"] == pytest.approx(0.50)
    assert m["rows"][2] == {"train": "ALL", "in_domain": pytest.approx(0.90),
                            "out_of_domain": None, "drop": None}
    table = summarize(rows)
    assert "| a | **85.0** | 65.0 | 85.0 | 65.0 | +20.0 |" in table
    assert "| ALL | 85.0 | 95.0 | 90.0 (mean) | – | – |" in table
    assert "ALL vs. the in-domain models: 90.0 vs. 92.5 mean accuracy (-2.5)." in table
