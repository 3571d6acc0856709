"""Keep TensorFlow's freed CPU buffers in the process instead of handing them back each step.

glibc's malloc serves large blocks with mmap and trims the top of its heaps as soon as a few
hundred KB are free, so a training loop that allocates and frees the same multi-MB tensors
every step (Adam's updates of a 30,000 x 50 embedding table, a batch's activations, tf.data's
batches) takes fresh zeroed pages from the kernel each time. Raising the mmap and trim
thresholds keeps those pages for reuse: the streamed Kim source epoch ran 1.4-2.2x faster,
in-memory CNN steps 1.0-1.2x (BENCHMARKS.md, sixth session). Numbers are unchanged (only
where buffers live changes); freed memory mostly stays with the process until it exits.

Applied once when `tl_text` is imported, on glibc only; `TL_TEXT_MALLOC=system` leaves
malloc as it is.
"""

from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # glibc's mallopt parameters
SETTINGS = {M_MMAP_THRESHOLD: 1 << 30, M_TRIM_THRESHOLD: 1 << 30, M_TOP_PAD: 256 << 20}


def keep_freed_memory() -> bool:
    """Set `SETTINGS` with mallopt; whether they were applied."""
    if os.environ.get("TL_TEXT_MALLOC") == "system" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)  # the process's own symbols, glibc's among them: no library search
    return all(libc.mallopt(parameter, value) == 1 for parameter, value in SETTINGS.items())
