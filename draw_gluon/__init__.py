"""draw-gluon: DRAW (Gregor et al., ICML 2015, arXiv:1502.04623) as MXNet Gluon blocks."""
import os

# MXNet reads OMP_NUM_THREADS once, when it loads, and otherwise runs its operators on one thread
# here: giving it every core it may use trains DRAW ~1.45x faster (benchmarks/speed.py --threads).
# A value the user set is kept; so is MXNet's choice if it was imported before draw_gluon.
os.environ.setdefault("OMP_NUM_THREADS", str(len(os.sched_getaffinity(0))))

from .checkpoint import load_run
from .attention import WINDOW_FIELDS, BasicRead, BasicWrite, SelectiveRead, SelectiveWrite
from .config import DRAWConfig
from .loss import DRAWLoss, kl_per_step, reconstruction_nll
from .model import DRAW, Generator, Trace

__version__ = "0.1.0"
__all__ = ["DRAW", "Generator", "DRAWConfig", "DRAWLoss", "Trace", "SelectiveRead", "SelectiveWrite", "BasicRead",
           "BasicWrite", "WINDOW_FIELDS", "kl_per_step", "reconstruction_nll", "load_run"]
