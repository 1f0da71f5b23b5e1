"""Helper threads that leave the GUI thread the CPU it needs.

Importing torch, MONAI and SciPy takes seconds; done on the GUI thread
as a dock widget opened, it froze the window that long. A helper thread
does it instead, started by the first Pick or Fine-tune widget, so the
libraries are ready (or nearly) when the user presses Pick. A job waits
for it (:func:`wait_for_libraries`) before importing them itself: two
threads importing MONAI at once can each see the other's half-made
modules and fail.

Python holds the GIL while it loads an extension's shared libraries,
and loading libtorch (400 MB, its operators registered as it loads)
took 0.2-0.3 s: the GUI thread froze that long although the import ran
on a helper thread. :func:`preload_torch_libraries` loads them first
through ``dlopen`` called as a foreign function, which runs without the
GIL; ``import torch`` then finds them loaded.

Importing torch and MONAI adds some 250,000 objects to the garbage
collector's care, and CPython scans them all in each full collection
it makes as they arrive: three of 0.12-0.21 s during the warm-up, each
freezing the GUI thread (it waits for the GIL, or the collection runs on
it). The warm-up therefore imports with automatic collection off and
then freezes what the process holds (:func:`gc.freeze`): later
collections skip those long-lived objects. A frozen object that becomes
garbage in a cycle is not collected until :func:`thaw` (called when the
cryopick widgets are destroyed, so a closed window is freed).

Helper threads (:func:`start_helper`) also run at a lower CPU priority
than the GUI thread (:func:`lower_thread_priority`): on a machine with
few cores, a worker busy in the network and reading the tomogram took
the CPU the GUI needed to draw the picks, and the window froze for half
a second. And while any runs, Python's thread switch interval is
:data:`SWITCH_S`: with the default 5 ms, each time the GUI thread lets
go of the GIL (a file read, a GL call) it may wait 5 ms to get it back
from a helper running Python code, and hundreds of such waits froze the
window for half a second as a dock widget imported its modules.
"""

from __future__ import annotations

import ctypes
import gc
import importlib.util
import os
import sys
import threading
from pathlib import Path

#: Name prefix of every helper thread (found again by name, not kept).
HELPER = 'cryopick-'
#: Name prefix of the warm-up threads.
PREFIX = f'{HELPER}warm-up'
#: Python's thread switch interval (s) while a helper thread runs.
SWITCH_S = 0.0005
#: The interval restored when the last helper ends: the interpreter's.
USUAL_SWITCH_S = sys.getswitchinterval()
#: Serialises the switch-interval changes of helpers starting and ending.
_SWITCH_LOCK = threading.Lock()
#: Nice steps a helper thread runs below the GUI thread (Linux).
NICENESS = 10
#: torch's C++ libraries (no Python in them), in load order.
TORCH_LIBRARIES = ('libc10.so', 'libtorch_cpu.so')


def warm_up(training: bool = False) -> threading.Thread:
    """Start importing the model libraries (once); return the thread.

    Parameters
    ----------
    training : bool
        Also make torch's first optimiser (for fine-tuning).
    """
    return _start(_prepare_training if training else _import_libraries)


def start_helper(target, name: str, *args) -> threading.Thread:
    """Run ``target(*args)`` on a helper thread that leaves the GUI room.

    The thread runs :data:`NICENESS` levels below its process, and while
    it (or any other helper) runs, the thread switch interval is
    :data:`SWITCH_S`.
    """
    thread = threading.Thread(
        target=_run_helper,
        args=(target, args),
        name=f'{HELPER}{name}',
        daemon=True,
    )
    thread.start()
    return thread


def _run_helper(target, args) -> None:
    lower_thread_priority()
    with _SWITCH_LOCK:
        sys.setswitchinterval(SWITCH_S)
    try:
        target(*args)
    finally:
        with _SWITCH_LOCK:
            # Marked under the lock, so of two helpers ending at once
            # the second sees the first done and restores the interval.
            threading.current_thread().cryopick_done = True
            if not any(
                t.name.startswith(HELPER)
                and not getattr(t, 'cryopick_done', False)
                for t in threading.enumerate()
            ):
                sys.setswitchinterval(USUAL_SWITCH_S)


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


def _start(target) -> threading.Thread:
    """Start ``target`` on a warm-up thread unless one runs it already.

    Once it has run, another run finds the modules imported and ends at
    once, so nothing needs remembering between calls.
    """
    name = f'warm-up{target.__name__}'
    for thread in threading.enumerate():
        if thread.name == f'{HELPER}{name}':
            return thread
    return start_helper(target, name)


def preload_torch_libraries() -> bool:
    """Load torch's C++ libraries without holding the GIL (Linux).

    Returns whether they were loaded; elsewhere, or when torch is
    already imported or laid out otherwise, nothing is done and the
    import loads them as usual.
    """
    if not sys.platform.startswith('linux') or 'torch' in sys.modules:
        return False
    spec = importlib.util.find_spec('torch')
    if spec is None or not spec.submodule_search_locations:
        return False
    folder = Path(spec.submodule_search_locations[0]) / 'lib'
    paths = [folder / name for name in TORCH_LIBRARIES]
    if not all(p.is_file() for p in paths):
        return False
    # A ctypes foreign call releases the GIL; ctypes.CDLL(path) does not.
    dlopen = ctypes.CDLL(None).dlopen
    dlopen.restype = ctypes.c_void_p
    dlopen.argtypes = (ctypes.c_char_p, ctypes.c_int)
    return all(dlopen(os.fsencode(p), os.RTLD_NOW) for p in paths)


def thaw() -> None:
    """Let every object frozen by a warm-up be collected again."""
    gc.unfreeze()


def _import_libraries() -> None:
    """Import torch, MONAI, SciPy and the model modules, then freeze.

    See the module's notes: collections during the imports froze the
    GUI for up to 0.2 s each.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        _imports()
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


def _imports() -> None:
    preload_torch_libraries()
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
    _start(_import_libraries).join()
    import torch

    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
