"""tf.distribute for the Keras fits: which strategy, its scope, and how batch and rate scale.

    default      one device, no strategy (results are those of plain Keras)
    mirrored     MirroredStrategy: every local GPU holds a replica (without GPUs, every logical
                 CPU device: `tf.config.set_logical_device_configuration` splits the CPU)
    multiworker  MultiWorkerMirroredStrategy: one process per machine, the cluster and this
                 process's place in it read from the TF_CONFIG environment variable

Scaling, the documented way (tf.distribute guide; Goyal et al., 2017): `batch_size` is per
replica, so a step consumes `batch_size x replicas` documents (the global batch), and the
learning rate grows linearly with the replicas (`learning_rate x replicas`). With one replica
(default) both stay as given. A multiworker strategy must be created before TensorFlow runs
any op, so commands call `get_strategy` first thing.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket

import tensorflow as tf

from tl_text.errors import ConfigError

STRATEGIES = ("default", "mirrored", "multiworker")


def check_strategy(name: str) -> None:
    if name not in STRATEGIES:
        raise ConfigError(f"strategy must be one of {STRATEGIES}, not {name!r}")


@functools.lru_cache(maxsize=None)
def get_strategy(name: str) -> tf.distribute.Strategy | None:
    """The process's strategy of that name (None for "default"), created once."""
    check_strategy(name)
    if name == "default":
        return None
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.MirroredStrategy(
            None if gpus else [d.name for d in tf.config.list_logical_devices("CPU")])
    _check_tf_config()
    return tf.distribute.MultiWorkerMirroredStrategy()


def scope(strategy: tf.distribute.Strategy | None):
    """The strategy's scope (networks and optimizers must be made in it); none for default."""
    return contextlib.nullcontext() if strategy is None else strategy.scope()


def scaled(strategy: tf.distribute.Strategy | None, batch_size: int,
           learning_rate: float) -> tuple[int, float]:
    """(global batch, learning rate) for a per-replica `batch_size` and `learning_rate`."""
    replicas = 1 if strategy is None else strategy.num_replicas_in_sync
    return batch_size * replicas, learning_rate * replicas


def is_chief(strategy: tf.distribute.Strategy | None) -> bool:
    """Whether this process writes the results (every single-process run does)."""
    return strategy is None or strategy.extended.should_checkpoint


def worker_name(strategy: tf.distribute.Strategy | None) -> str:
    """This process's place in the cluster, e.g. "worker-1" ("local" outside a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return "local"
    return f"{resolver.task_type}-{resolver.task_id}"


def local_cluster(workers: int) -> list[str]:
    """One TF_CONFIG per worker of a cluster on free 127.0.0.1 ports (tests, one-machine
    trials of a multiworker command)."""
    sockets = [socket.socket() for _ in range(workers)]
    for s in sockets:  # all bound at once, so the ports differ
        s.bind(("127.0.0.1", 0))
    cluster = {"worker": [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]}
    for s in sockets:
        s.close()
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
            for i in range(workers)]


def _check_tf_config() -> None:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ConfigError("strategy 'multiworker' needs TF_CONFIG: {\"cluster\": {\"worker\": "
                          "[\"host:port\", ...]}, \"task\": {\"type\": \"worker\", \"index\": N}}")
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigError(f"TF_CONFIG is not JSON: {error}") from None
    for key in ("cluster", "task"):
        if not isinstance(config, dict) or not isinstance(config.get(key), dict):
            raise ConfigError(f"TF_CONFIG: field {key!r} missing or not an object")
    task = config["task"]
    members = config["cluster"].get(task.get("type"))
    if not isinstance(members, list) or not isinstance(task.get("index"), int) \
            or not 0 <= task["index"] < len(members):
        raise ConfigError(f"TF_CONFIG: task {task} names no member of the cluster "
                          f"{config['cluster']}")
