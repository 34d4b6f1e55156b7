"""draw-gluon: DRAW (Gregor et al., ICML 2015, arXiv:1502.04623) as MXNet Gluon blocks."""
import os
from importlib import metadata


def _cpu_build():
    try:
        return bool(metadata.version("mxnet"))  # the CPU wheel; GPU wheels are mxnet-cu*
    except metadata.PackageNotFoundError:
        return False


# MXNet reads these once, when it loads; values the user set are kept, and so is MXNet's own choice
# if it was imported before draw_gluon. Measured with benchmarks/speed.py --threads (README,
# Performance): MXNet otherwise runs its operators on one thread here, and with the threaded engine
# a CPU training run slowed 2x for good after its first validation (a second OpenMP team competing
# for the cores, it seems); the synchronous engine kept full speed. GPU builds keep the threaded engine.
os.environ.setdefault("OMP_NUM_THREADS", str(len(os.sched_getaffinity(0))))
if _cpu_build():
    os.environ.setdefault("MXNET_ENGINE_TYPE", "NaiveEngine")

from .checkpoint import load_run
from .attention import WINDOW_FIELDS, BasicRead, BasicWrite, SelectiveRead, SelectiveWrite
from .config import DRAWConfig
from .loss import DRAWLoss, kl_per_step, reconstruction_nll
from .model import DRAW, Generator, Trace
from .evaluation import evaluate_nll
from .export import export_model
from .pictures import draw_latent_walks, draw_reconstructions, draw_samples

__version__ = "0.1.0"
__all__ = ["DRAW", "Generator", "DRAWConfig", "DRAWLoss", "Trace", "SelectiveRead", "SelectiveWrite", "BasicRead",
           "BasicWrite", "WINDOW_FIELDS", "kl_per_step", "reconstruction_nll", "load_run", "evaluate_nll",
           "export_model", "draw_samples", "draw_reconstructions", "draw_latent_walks"]
