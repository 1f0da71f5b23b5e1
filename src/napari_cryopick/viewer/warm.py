"""Helper threads that leave the GUI thread the CPU it needs.

Importing torch, MONAI and SciPy takes seconds; done on the GUI thread
as a dock widget opened, it froze the window that long. A helper thread
does it instead, started by the first Pick or Fine-tune widget, so the
libraries are ready (or nearly) when the user presses Pick. A job waits
for it (:func:`wait_for_libraries`) before importing them itself: two
threads importing MONAI at once can each see the other's half-made
modules and fail.

Helper threads also run at a lower CPU priority than the GUI thread
(:func:`lower_thread_priority`): on a machine with few cores, a worker
busy in the network and reading the tomogram took the CPU the GUI
needed to draw the picks, and the window froze for half a second.
"""

from __future__ import annotations

import functools
import os
import sys
import threading

#: Name prefix of the warm-up threads (found again by name, not kept).
PREFIX = 'cryopick-warm-up'
#: Nice steps a helper thread runs below the GUI thread (Linux).
NICENESS = 10


def warm_up(training: bool = False) -> threading.Thread:
    """Start importing the model libraries (once); return the thread.

    Parameters
    ----------
    training : bool
        Also make torch's first optimiser (for fine-tuning).
    """
    return _start(_prepare_training if training else _import_libraries)


def lower_thread_priority(steps: int = NICENESS) -> None:
    """Run the calling thread ``steps`` nice levels below its process.

    Linux gives each thread its own nice value, inherited by the threads
    it starts (torch's and dask's pools started from a worker); where
    threads have none (macOS, Windows) this does nothing.
    """
    if not sys.platform.startswith('linux'):
        return
    thread = threading.get_native_id()
    try:
        nice = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, nice + steps))
    except OSError:  # not allowed here: run at the usual priority
        return


def wait_for_libraries() -> None:
    """Wait until every warm-up thread started so far has finished."""
    for thread in threading.enumerate():
        if thread.name.startswith(PREFIX) and thread is not (
            threading.current_thread()
        ):
            thread.join()


@functools.cache
def _start(target) -> threading.Thread:
    name = f'{PREFIX}{target.__name__}'
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def _import_libraries() -> None:
    """Import torch, MONAI, SciPy and the model modules."""
    lower_thread_priority()
    import monai.losses  # noqa: F401
    import monai.networks.nets  # noqa: F401
    import safetensors.torch  # noqa: F401
    import scipy.ndimage  # noqa: F401
    import scipy.spatial  # noqa: F401
    import torch  # noqa: F401

    import napari_cryopick.metric  # noqa: F401
    import napari_cryopick.model.finetune  # noqa: F401
    import napari_cryopick.model.predict  # noqa: F401
    import napari_cryopick.model.train  # noqa: F401


def _prepare_training() -> None:
    """Import, then make a throwaway optimiser.

    torch.optim pulls in TorchDynamo (and SymPy) on first use, 1.4 s
    that a fine-tuning worker would otherwise spend first.
    """
    lower_thread_priority()
    _start(_import_libraries).join()
    import torch

    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
