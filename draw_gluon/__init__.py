"""draw-gluon: DRAW (Gregor et al., ICML 2015, arXiv:1502.04623) as MXNet Gluon blocks."""
from .checkpoint import load_run
from .attention import WINDOW_FIELDS, BasicRead, BasicWrite, SelectiveRead, SelectiveWrite
from .config import DRAWConfig
from .loss import DRAWLoss, kl_per_step, reconstruction_nll
from .model import DRAW, Trace

__version__ = "0.1.0"
__all__ = ["DRAW", "DRAWConfig", "DRAWLoss", "Trace", "SelectiveRead", "SelectiveWrite", "BasicRead",
           "BasicWrite", "WINDOW_FIELDS", "kl_per_step", "reconstruction_nll", "load_run"]
