"""Experiments resume an interrupted run, refuse results of another config, and refuse a bad
`--out` before any work."""

import json
import os
from pathlib import Path

import pytest

from tl_text.cli import main
from tl_text.experiments import transfer

BUILD = transfer.build
LINEAR = ["--arms", "nb-lr,tfidf-lr,nb-lr+tfidf-lr", "--seeds", "2", "--fraction", "0.01",
          "--test-fraction", "0.02", "--source", "amazon-classic", "--verbose", "0"]


def _transfer(out: Path, data_dir, *extra) -> int:
    return main(["transfer", *LINEAR, "--data-dir", str(data_dir), "--out", str(out), *extra])


def _counting_builds(monkeypatch, stop_at: int | None = None) -> list:
    """Record each classifier the transfer run builds; raise KeyboardInterrupt at `stop_at`."""
    built = []

    def counting(arm, cfg, seed, sources):
        built.append((arm, seed))
        if len(built) == stop_at:
            raise KeyboardInterrupt
        return BUILD(arm, cfg, seed, sources)

    monkeypatch.setattr(transfer, "build", counting)
    return built


def _without_timings(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def test_a_rerun_finishes_only_the_missing_units(tmp_path, data_dir, monkeypatch, capsys):
    assert _transfer(tmp_path / "whole", data_dir) == 0
    whole = json.loads((tmp_path / "whole" / "results.json").read_text())

    out = tmp_path / "stopped"
    _counting_builds(monkeypatch, stop_at=2)  # Ctrl-C in tfidf-lr, seed 0
    assert _transfer(out, data_dir) == 130
    assert [(r["arm"], r["seed"]) for r in json.loads((out / "results.json").read_text())[
        "rows"]] == [("nb-lr", 0)]
    capsys.readouterr()

    built = _counting_builds(monkeypatch)
    assert _transfer(out, data_dir) == 0
    assert "resuming: 1 of 6 units already done" in capsys.readouterr().out
    # nb-lr+tfidf-lr of seed 0 combines the recorded nb-lr probabilities: no retraining
    assert built == [("tfidf-lr", 0), ("nb-lr", 1), ("tfidf-lr", 1)]
    resumed = json.loads((out / "results.json").read_text())
    assert _without_timings(resumed["rows"]) == _without_timings(whole["rows"])
    assert resumed["classifiers"] == whole["classifiers"]
    assert sorted(p.name for p in (out / "probabilities").iterdir()) == sorted(
        f"{arm}-{seed}-0.01.npy" for arm in ("nb-lr", "tfidf-lr", "nb-lr+tfidf-lr")
        for seed in (0, 1))

    assert _transfer(out, data_dir) == 0  # everything done: nothing trains
    assert "resuming: 6 of 6 units already done" in capsys.readouterr().out
    assert len(built) == 3


def test_results_of_another_config_are_refused_unless_restart(tmp_path, data_dir, monkeypatch,
                                                              capsys):
    out = tmp_path / "out"
    assert _transfer(out, data_dir, "--seeds", "1", "--arms", "nb-lr") == 0
    before = (out / "results.json").read_text()
    capsys.readouterr()

    assert _transfer(out, data_dir, "--seeds", "1", "--ngrams", "3") == 2
    err = capsys.readouterr().err
    assert f"{out / 'results.json'} holds the results of another configuration (differing " \
           "in ngrams)" in err and "choose another --out, or pass --restart" in err
    assert (out / "results.json").read_text() == before

    built = _counting_builds(monkeypatch)
    assert _transfer(out, data_dir, "--seeds", "1", "--ngrams", "3", "--restart") == 0
    assert built == [("nb-lr", 0), ("tfidf-lr", 0)]
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [r["arm"] for r in rows] == ["nb-lr", "tfidf-lr", "nb-lr+tfidf-lr"]


def test_more_arms_and_seeds_add_only_their_units(tmp_path, data_dir, monkeypatch, capsys):
    out = tmp_path / "out"
    assert _transfer(out, data_dir, "--seeds", "1", "--arms", "nb-lr") == 0
    capsys.readouterr()
    built = _counting_builds(monkeypatch)
    assert _transfer(out, data_dir) == 0  # the three arms, two seeds
    assert "resuming: 1 of 6 units already done" in capsys.readouterr().out
    assert built == [("tfidf-lr", 0), ("nb-lr", 1), ("tfidf-lr", 1)]
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [(r["arm"], r["seed"]) for r in rows] == [
        (arm, seed) for seed in (0, 1) for arm in ("nb-lr", "tfidf-lr", "nb-lr+tfidf-lr")]


def test_another_config_is_refused_before_reading_data(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text(json.dumps({"config": {"seeds": 5}, "rows": []}))
    assert main(["transfer", "--data-dir", str(tmp_path / "data"), "--out", str(out)]) == 2
    assert "holds the results of another configuration" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def _read_only_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):  # root writes anyway: a read-only file system instead
        folder = Path("/proc/sys")
        if not folder.is_dir() or os.access(folder, os.W_OK):
            pytest.skip("no folder this user cannot write in")
    return folder


COMMANDS = {  # the options, and the function that would read the data
    "transfer": (["transfer", "--arms", "nb-lr"], "transfer.load_imdb"),
    "crossdomain": (["crossdomain", "--model", "nb-lr"], "crossdomain.load_domains"),
    "nsmc": (["nsmc", "--arms", "nb-lr:word"], "nsmc.load_nsmc"),
    "train": (["train", "imdb", "--model", "nb-lr"], "train.load_data")}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("bad", ["file", "below a file", "read-only"])
def test_a_bad_out_is_refused_before_any_work(command, bad, tmp_path, monkeypatch, capsys):
    def no_data(*args, **kwargs):
        raise AssertionError("data was read before --out was checked")

    options, reader = COMMANDS[command]
    monkeypatch.setattr(f"tl_text.experiments.{reader}", no_data)
    file = tmp_path / "results"
    file.write_text("keep me")
    out, blocker = {"file": (file, file), "below a file": (file / "sub", file),
                    "read-only": (_read_only_folder(tmp_path) / "out", None)}[bad]
    blocker = blocker or out.parent
    assert main([*options, "--data-dir", str(tmp_path / "data"), "--out",
                 str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--out {out}: " in err
    assert (f"{blocker} is a file, not a folder" if bad != "read-only"
            else f"cannot write in the folder {blocker}") in err
    assert file.read_text() == "keep me" and not (tmp_path / "data").exists()


def test_results_from_before_the_distribution_options_still_resume(tmp_path):
    """Results written before --strategy, --checkpoint-* and --bert-attention-dropout existed
    resume with their defaults; another strategy or dropout is another configuration."""
    from dataclasses import asdict

    from tl_text.errors import ConfigError
    from tl_text.experiments.report import earlier_results

    config = asdict(transfer.TransferConfig(out=str(tmp_path)))
    older = {k: v for k, v in config.items()
             if k not in ("strategy", "checkpoint_dir", "checkpoint_every",
                          "bert_attention_dropout")}
    (tmp_path / "results.json").write_text(json.dumps({"config": older, "rows": [],
                                                       "units": []}))
    assert earlier_results(tmp_path, {**config, "checkpoint_every": 100})["units"] == []
    with pytest.raises(ConfigError, match="differing in strategy"):
        earlier_results(tmp_path, {**config, "strategy": "mirrored"})
    with pytest.raises(ConfigError, match="differing in bert_attention_dropout"):
        earlier_results(tmp_path, {**config, "bert_attention_dropout": 0.0})
