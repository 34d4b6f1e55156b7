"""Top-level entry point kept for users of the original script: ``from core import DRAW, DRAWLoss``.

The code lives in the ``draw_gluon`` package; this module only re-exports it.
"""
from draw_gluon import *  # noqa: F401,F403
from draw_gluon import __all__  # noqa: F401
