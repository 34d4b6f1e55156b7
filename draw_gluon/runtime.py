"""MXNet's CPU settings that this project measured to be fastest, applied only where asked for.

MXNet reads ``OMP_NUM_THREADS`` and ``MXNET_ENGINE_TYPE`` once, when it is first imported, so
:func:`cpu_defaults` must run before anything imports ``mxnet``. Our own entry points
(``train_mnist.py``, ``draw-gluon``, ``draw-gluon-train``, the benchmarks) call it first; a library
import never changes the engine of the program that imports it.
"""
import ctypes
import importlib.util
import os
import sys
import warnings

__all__ = ["cpu_defaults"]


def usable_cores():
    """The cores this process may run on (all of them where the OS cannot pin, as on macOS)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class _Feature(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("enabled", ctypes.c_bool)]


def cuda_build():
    """Whether the installed MXNet library was built with CUDA, asked of the library itself (what
    ``mx.runtime.Features()`` reads) without importing ``mxnet``, which would fix its settings.
    The wheel's name cannot tell: ``mxnet`` and ``mxnet-cu112`` may both be installed, and a CPU
    build may be called ``mxnet-mkl`` or built from source. False when there is no MXNet to ask."""
    spec = importlib.util.find_spec("mxnet")
    if spec is None or not spec.submodule_search_locations:
        return False
    # MXNet's own library search (it honours MXNET_LIBRARY_PATH), run without the package's __init__
    info = importlib.util.spec_from_file_location(
        "_mxnet_libinfo", os.path.join(spec.submodule_search_locations[0], "libinfo.py"))
    libinfo = importlib.util.module_from_spec(info)
    info.loader.exec_module(libinfo)
    # The same file that `import mxnet` loads later (one handle); the engine starts only when first used.
    library = ctypes.CDLL(libinfo.find_lib_path()[0], ctypes.RTLD_LOCAL)
    features, count = ctypes.POINTER(_Feature)(), ctypes.c_size_t()
    if library.MXLibInfoFeatures(ctypes.byref(features), ctypes.byref(count)) != 0:
        return False
    return any(features[k].name == b"CUDA" and features[k].enabled for k in range(count.value))


def cpu_defaults():
    """Set MXNet's measured CPU defaults in ``os.environ``, keeping any value already set.

    - ``OMP_NUM_THREADS``: the usable cores (MXNet otherwise ran its operators on one thread here);
    - ``MXNET_ENGINE_TYPE=NaiveEngine`` when the MXNet library has no CUDA: with the threaded engine a
      training run slowed 2-3x for good after its first validation, the synchronous engine kept full
      speed (docs/performance.md). GPU builds keep the threaded engine.

    Call it before ``import mxnet`` (or ``import draw_gluon.<module>`` that imports it); once MXNet
    is loaded it can no longer take effect, and this warns instead. Returns the variables set.
    """
    threads = {} if "OMP_NUM_THREADS" in os.environ else {"OMP_NUM_THREADS": str(usable_cores())}
    loaded = "mxnet" in sys.modules
    if not loaded:
        os.environ.update(threads)  # before cuda_build() loads the library: OpenMP reads it then
    engine = {} if "MXNET_ENGINE_TYPE" in os.environ or cuda_build() else {"MXNET_ENGINE_TYPE": "NaiveEngine"}
    applied = {**threads, **engine}
    if loaded:
        if applied:
            warnings.warn("draw_gluon.runtime.cpu_defaults() was called after MXNet was imported; its settings "
                          f"{applied} take effect only in a new process: call it before importing mxnet", stacklevel=2)
        return {}
    os.environ.update(engine)
    return applied


def start_engine():
    """Start MXNet's engine now. MXNet starts it at first use and then logs "MXNet start using engine"
    for a chosen engine; started late (a run that ends in a one-line error never used it), that log
    line came after our message, at exit. Started first, it comes first."""
    import mxnet as mx

    mx.nd.waitall()


def train_main(argv=None):
    """The ``draw-gluon-train`` command (train_mnist.py's): CPU defaults, then training."""
    cpu_defaults()
    start_engine()
    from .train import main
    return main(argv)


def cli_main(argv=None):
    """The ``draw-gluon`` command: CPU defaults, then the subcommand."""
    cpu_defaults()
    start_engine()
    from .cli import main
    return main(argv)
