"""draw-gluon: DRAW (Gregor et al., ICML 2015, arXiv:1502.04623) as MXNet Gluon blocks.

The public names load their modules (and MXNet) on first use, so that ``draw_gluon.runtime``
can set MXNet's CPU defaults before MXNet starts (see :func:`draw_gluon.runtime.cpu_defaults`).
Importing this package changes no environment variable.
"""
import importlib

# public name -> module that defines it
_EXPORTS = {
    "DRAW": "model", "Generator": "model", "Trace": "model",
    "DRAWConfig": "config", "ClassifierConfig": "config",
    "Classifier": "classifier",
    "DRAWLoss": "loss", "kl_per_step": "loss", "reconstruction_nll": "loss",
    "SelectiveRead": "attention", "SelectiveWrite": "attention", "BasicRead": "attention",
    "BasicWrite": "attention", "Glimpse": "attention", "WINDOW_FIELDS": "attention",
    "load_run": "checkpoint", "load_model": "checkpoint",
    "evaluate_nll": "evaluation",
    "export_model": "export",
    "draw_samples": "pictures", "draw_reconstructions": "pictures", "draw_latent_walks": "pictures",
    "cpu_defaults": "runtime",
    "pretrained": "model_zoo", "info": "model_zoo",
}
__version__ = "1.0.0.dev0"  # read by setup.py
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'draw_gluon' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
