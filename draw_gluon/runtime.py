"""MXNet's CPU settings that this project measured to be fastest, applied only where asked for.

MXNet reads ``OMP_NUM_THREADS`` and ``MXNET_ENGINE_TYPE`` once, when it is first imported, so
:func:`cpu_defaults` must run before anything imports ``mxnet``. Our own entry points
(``train_mnist.py``, ``draw-gluon``, ``draw-gluon-train``, the benchmarks) call it first; a library
import never changes the engine of the program that imports it.
"""
import os
import sys
import warnings
from importlib import metadata

__all__ = ["cpu_defaults"]


def _cpu_build():
    try:
        return bool(metadata.version("mxnet"))  # the CPU wheel; GPU wheels are mxnet-cu*
    except metadata.PackageNotFoundError:
        return False


def cpu_defaults():
    """Set MXNet's measured CPU defaults in ``os.environ``, keeping any value already set.

    - ``OMP_NUM_THREADS``: the usable cores (MXNet otherwise ran its operators on one thread here);
    - ``MXNET_ENGINE_TYPE=NaiveEngine`` on the CPU build: with the threaded engine a training run
      slowed 2-3x for good after its first validation, the synchronous engine kept full speed
      (README, Performance). GPU builds keep the threaded engine.

    Call it before ``import mxnet`` (or ``import draw_gluon.<module>`` that imports it); once MXNet
    is loaded it can no longer take effect, and this warns instead. Returns the variables set.
    """
    wanted = {"OMP_NUM_THREADS": str(len(os.sched_getaffinity(0)))}
    if _cpu_build():
        wanted["MXNET_ENGINE_TYPE"] = "NaiveEngine"
    applied = {k: v for k, v in wanted.items() if k not in os.environ}
    if applied and "mxnet" in sys.modules:
        warnings.warn("draw_gluon.runtime.cpu_defaults() was called after MXNet was imported; its "
                      f"settings {applied} take effect only in a new process: call it before importing mxnet",
                      stacklevel=2)
        return {}
    os.environ.update(applied)
    return applied


def train_main(argv=None):
    """The ``draw-gluon-train`` command (train_mnist.py's): CPU defaults, then training."""
    cpu_defaults()
    from .train import main
    return main(argv)


def cli_main(argv=None):
    """The ``draw-gluon`` command: CPU defaults, then the subcommand."""
    cpu_defaults()
    from .cli import main
    return main(argv)
