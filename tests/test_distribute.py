"""tf.distribute and checkpoint/resume of the CNN fit, each fit in its own process
(tests/distribute_worker.py) so that logical devices and TF_CONFIG do not touch this one.

Accuracies are compared within noise: 150 validation reviews give a binomial standard error
of about 0.04 per run, and a replicated fit adds its different batch split and summation
order, so runs agree within 0.1 (a fit that fails to train stays near 0.5)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tl_text.errors import ConfigError
from tl_text.training.distribute import get_strategy, local_cluster, scaled

WORKER = Path(__file__).with_name("distribute_worker.py")
ROOT = WORKER.parents[1]
NOISE = 0.1
TIMEOUT = 300  # a safety net only: each fit takes 20-60 s on 2 idle cores


def _command(out: Path, data_dir: Path, *options: str) -> list[str]:
    return [sys.executable, str(WORKER), str(out), "--data-dir", str(data_dir), *options]


def _env(**extra) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def _run(out: Path, data_dir: Path, *options: str, **env) -> dict:
    done = subprocess.run(_command(out, data_dir, *options), env=_env(**env),
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(np.load(out))


def _weights(result: dict) -> list[np.ndarray]:
    return [result[f"w{i}"] for i in range(sum(k.startswith("w") for k in result))]


@pytest.fixture(scope="module")
def single(tmp_path_factory, data_dir):
    """The single-process, default-strategy fit every other one is compared with."""
    return _run(tmp_path_factory.mktemp("single") / "out.npz", data_dir)


def test_scaling_is_linear_in_the_replicas():
    assert scaled(None, 32, 1e-3) == (32, 1e-3)


def test_unknown_strategy_and_missing_tf_config_are_refused(monkeypatch):
    with pytest.raises(ConfigError, match="strategy must be one of"):
        get_strategy("tpu")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1"]}, '
                                    '"task": {"type": "worker", "index": 3}}')
    with pytest.raises(ConfigError, match="TF_CONFIG: task"):
        get_strategy("multiworker")


def test_checkpoints_leave_the_default_fit_unchanged(single, tmp_path, data_dir):
    """strategy "default" with checkpoints: the very weights of the plain fit, and the
    checkpoint folder is gone once the fit ends."""
    result = _run(tmp_path / "out.npz", data_dir, "--checkpoint-dir", str(tmp_path / "ckpt"),
                  "--checkpoint-every", "5")
    for ours, plain in zip(_weights(result), _weights(single), strict=True):
        np.testing.assert_array_equal(ours, plain)
    assert not any((tmp_path / "ckpt").iterdir())


def test_mirrored_over_two_logical_cpus(single, tmp_path, data_dir):
    result = _run(tmp_path / "out.npz", data_dir, "--strategy", "mirrored",
                  "--logical-cpus", "2")
    assert abs(result["validation_accuracy"] - single["validation_accuracy"]) <= NOISE


def test_two_worker_cluster_on_localhost(single, tmp_path, data_dir):
    workers = [subprocess.Popen(
        _command(tmp_path / f"worker{i}.npz", data_dir, "--strategy", "multiworker"),
        env=_env(TF_CONFIG=config),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for i, config in enumerate(local_cluster(2))]
    try:
        for worker in workers:
            _, err = worker.communicate(timeout=TIMEOUT)
            assert worker.returncode == 0, err[-3000:]
    finally:
        for worker in workers:
            worker.kill()
    chief, other = (dict(np.load(tmp_path / f"worker{i}.npz")) for i in range(2))
    # an experiment's results: the chief writes them, the other worker keeps its own record
    assert str(chief["results_folder"]) == "results"
    assert str(other["results_folder"]) == str(Path("results", ".workers", "worker-1"))
    for a, b in zip(_weights(chief), _weights(other), strict=True):
        np.testing.assert_array_equal(a, b)  # one model, replicated
    assert abs(chief["validation_accuracy"] - single["validation_accuracy"]) <= NOISE


def test_a_fit_killed_midway_resumes_from_its_checkpoint(single, tmp_path, data_dir):
    """kill -9 after the first epoch and a step checkpoint of the second; the same command
    then starts at the second epoch. Its weights are not bit-identical to an uninterrupted
    fit's (the restarted input pipeline and dropout draw other shuffles and masks), so the
    result is compared within noise."""
    checkpoints = tmp_path / "ckpt"
    options = ("--checkpoint-dir", str(checkpoints), "--checkpoint-every", "5",
               "--verbose", "2")
    first = subprocess.Popen(_command(tmp_path / "out.npz", data_dir, *options), env=_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + TIMEOUT

    def wait_for(condition, what: str) -> None:
        while not condition():
            assert first.poll() is None and time.monotonic() < deadline, f"no {what}"
            time.sleep(0.1)

    try:
        wait_for(lambda: list(checkpoints.glob("*/callbacks-local/early_stopping-0.npz")),
                 "first epoch")
        index = next(checkpoints.glob("*/chief/checkpoint"))
        saved = index.stat().st_mtime_ns
        wait_for(lambda: index.stat().st_mtime_ns != saved, "checkpoint after the first epoch")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert not (tmp_path / "out.npz").exists()
    done = subprocess.run(_command(tmp_path / "out.npz", data_dir, *options), env=_env(),
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Epoch 1/3" not in done.stdout and "Epoch 3/3" in done.stdout
    result = dict(np.load(tmp_path / "out.npz"))
    assert abs(result["validation_accuracy"] - single["validation_accuracy"]) <= NOISE
    assert not any(checkpoints.iterdir())
