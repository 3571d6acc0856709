"""Learning-rate schedules: linear warm-up + decay (BERT recipe) and one-cycle (Smith 2018)."""

from __future__ import annotations

import tensorflow as tf
import tf_keras


class WarmupLinearDecay(tf_keras.optimizers.schedules.LearningRateSchedule):
    """0 → `peak` linearly over `warmup_steps`, then linearly down to 0 at `total_steps`."""

    def __init__(self, peak: float, total_steps: int, warmup_steps: int):
        self.peak, self.total_steps, self.warmup_steps = peak, total_steps, warmup_steps

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup = tf.cast(max(self.warmup_steps, 1), tf.float32)
        total = tf.cast(max(self.total_steps, self.warmup_steps + 1), tf.float32)
        rising = step / warmup
        falling = (total - step) / (total - warmup)
        return self.peak * tf.maximum(tf.minimum(rising, falling), 0.0)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps}


class OneCycle(tf_keras.optimizers.schedules.LearningRateSchedule):
    """ktrain's `fit_onecycle` shape: `peak`/10 → `peak` over the first 45 % of the steps,
    back to `peak`/10 by 90 %, then down to `peak`/1000 (annihilation)."""

    def __init__(self, peak: float, total_steps: int):
        self.peak, self.total_steps = peak, total_steps

    def __call__(self, step):
        t = tf.cast(step, tf.float32) / float(max(self.total_steps, 1))
        low, floor = self.peak / 10, self.peak / 1000
        up = low + (self.peak - low) * t / 0.45
        down = self.peak - (self.peak - low) * (t - 0.45) / 0.45
        tail = low - (low - floor) * tf.minimum((t - 0.9) / 0.1, 1.0)
        return tf.where(t < 0.45, up, tf.where(t < 0.9, down, tail))

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps}
