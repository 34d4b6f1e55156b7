"""Fused CPU kernels (``fused_ops.cc``), built once with the machine's C++ compiler and loaded into
MXNet through its extension library API (``mx.library.load``).

They replace chains of small operators whose cost on CPU is mostly per-operator overhead
(docs/performance.md); :func:`~draw_gluon.fast.lstm_step` keeps the reference implementation beside them.
The library is compiled at first use into ``$DRAW_CACHE_DIR/fused`` (default
``~/.cache/draw-gluon/fused``) for the machine's own CPU (``-march=native``), in a file named by
MXNet's version and a hash of the source and the CPU's model and features, so an upgrade, or a
machine with another CPU sharing the cache folder, builds afresh. A library is loaded only if it is
the one built here: owned by this user, writable by no one else, and of the SHA-256 recorded beside
it when it was built (``<library>.sha256``); any other file in its place is rebuilt over, never
loaded. ``DRAW_FUSED`` chooses:

- unset or ``auto``: use the kernels when they build and load, else warn once and use the reference;
- ``1``: use them, and raise :class:`FusedError` when they cannot be had;
- ``0``: always the reference operators.

GPU builds of MXNet always take the reference path (the kernels are CPU code).
"""
import contextlib
import fcntl
import hashlib
import os
import platform
import subprocess
import sys
import sysconfig
import warnings

import mxnet as mx

from .data.common import cache_folder
from .io import atomic_write, file_digest

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fused_ops.cc")
FLAGS = ["-shared", "-fPIC", "-std=c++11", "-O3", "-ffast-math", "-fopenmp", "-march=native"]
CPU_FIELDS = ("model name", "flags", "Features", "CPU implementer", "CPU part")  # x86 and ARM
_state = {"loaded": None, "why": None, "off": 0}


class FusedError(RuntimeError):
    """The fused kernels were required (``DRAW_FUSED=1``) but cannot be built or loaded."""


def cpu_id():
    """The CPU that ``-march=native`` compiles for: its model and feature flags, as text."""
    try:
        with open("/proc/cpuinfo") as f:
            return "".join(sorted({line for line in f if line.startswith(CPU_FIELDS)}))
    except OSError:  # not Linux
        return platform.machine() + platform.processor()


def library_path(cache_dir=None):
    """Where the compiled library for this MXNet, this source and this CPU lives."""
    with open(SOURCE, "rb") as f:
        digest = hashlib.sha256(f.read() + " ".join(FLAGS).encode() + cpu_id().encode()).hexdigest()[:16]
    folder = os.path.join(cache_folder(cache_dir), "fused")
    return os.path.join(folder, f"draw_ops-mxnet{mx.__version__}-{digest}{sysconfig.get_config_var('SHLIB_SUFFIX') or '.so'}")


def trusted(path):
    """Whether the library at ``path`` is the one :func:`build` wrote: owned by this user, writable
    by no one else, and matching the SHA-256 recorded when it was built."""
    try:
        info = os.stat(path)
        with open(path + ".sha256") as f:
            recorded = f.read().strip()
    except OSError:
        return False
    mine = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    return mine and not info.st_mode & 0o022 and file_digest(path, "sha256") == recorded


def build(path):
    """Compile ``fused_ops.cc`` into the shared library ``path`` (written atomically, with its
    SHA-256 beside it; concurrent builders wait for one another) unless :func:`trusted` already.
    Raises :class:`FusedError` with the compiler's complaint."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if trusted(path):  # another process built it while we waited
            return path
        if os.path.exists(path):
            print(f"draw-gluon: {path} is not the library draw-gluon built there (another owner, writable by "
                  "others, or changed since); building it afresh", file=sys.stderr)
        root = os.path.dirname(mx.__file__)
        tmp = f"{path}.{os.getpid()}.tmp"
        print(f"draw-gluon: compiling its fused CPU kernels into {os.path.dirname(path)} (once; about "
              "half a minute)", file=sys.stderr)
        command = [os.environ.get("CXX", "g++"), *FLAGS, SOURCE, os.path.join(root, "src", "lib_api.cc"),
                   "-I", os.path.join(root, "include"), "-o", tmp]
        try:
            subprocess.run(command, check=True, capture_output=True, text=True)
        except FileNotFoundError:
            raise FusedError(f"no C++ compiler ({command[0]}); install g++ or set CXX") from None
        except subprocess.CalledProcessError as err:
            lines = (err.stderr or "").strip().splitlines()
            raise FusedError(f"compiling {SOURCE} failed: {lines[-1] if lines else err}") from None
        os.chmod(tmp, 0o755)
        atomic_write(path + ".sha256", file_digest(tmp, "sha256").encode())
        os.replace(tmp, path)
    return path


def _mode():
    mode = os.environ.get("DRAW_FUSED", "auto").strip().lower()
    if mode not in ("0", "1", "auto", ""):
        raise FusedError(f"DRAW_FUSED={mode!r}; use 0 (reference operators), 1 (fused kernels) or auto")
    return mode or "auto"


def _cpu_build():
    return not mx.runtime.Features().is_enabled("CUDA")


def _load():
    """Build if needed and load the library once per process; returns whether it is loaded."""
    if _state["loaded"] is None:
        try:
            if not _cpu_build():
                raise FusedError("MXNet is a GPU build; the fused kernels are CPU code")
            path = library_path()
            mx.library.load(build(path), verbose=False)
            _state["loaded"] = True
        except (FusedError, OSError, mx.base.MXNetError) as err:
            _state["loaded"], _state["why"] = False, str(err)
            if _mode() != "1":
                warnings.warn(f"draw-gluon's fused CPU kernels are unavailable ({err}); using MXNet's own "
                              "operators, which train more slowly", stacklevel=3)
    if not _state["loaded"] and _mode() == "1":
        raise FusedError(f"DRAW_FUSED=1 but the fused kernels are unavailable: {_state['why']}")
    return _state["loaded"]


def enabled(dtype="float32"):
    """Whether models of ``dtype`` built or hybridized now use the fused kernels (building them on
    first call); the kernels serve float32 and float64."""
    return dtype in ("float32", "float64") and _state["off"] == 0 and _mode() != "0" and _load()


@contextlib.contextmanager
def disabled():
    """Trace with the reference operators inside the block (for graphs exported to plain MXNet)."""
    _state["off"] += 1
    try:
        yield
    finally:
        _state["off"] -= 1
