"""An exponential moving average of a model's parameters (``--ema DECAY``), what current VAE training
code validates, tests and ships in place of the last update's parameters."""
import contextlib

import mxnet as mx

from ..checkpoint import parameter_names
from ..io import atomic_path


class ParameterAverage:
    """``average <- d * average + (1 - d) * parameter`` after every update, for each parameter of
    ``model`` (fixed ones stay as they are), on its first device, with ``d = min(decay, (1 + n) / (10 + n))``
    at its ``n``-th update (counted from 0). The warm-up is TensorFlow's (ExponentialMovingAverage's
    ``num_updates``) and diffusers' (EMAModel): without it the average of a run of a few thousand
    updates at decay 0.999 is still largely the random parameters it started from. A checkpoint keeps
    it as :attr:`FILE` (MXNet's array file, keyed by the parameters' structural names) and its count
    :attr:`updates` in ``state.json``, so a resumed run goes on with it exactly."""

    FILE = "ema.params"

    def __init__(self, model, decay):
        self.decay = decay
        params = list(model.collect_params().values())
        self.params = dict(zip(parameter_names(model, params), params))
        self.values, self.updates = {}, 0
        self.reset()

    def reset(self):
        """Start the average at the parameters as they are."""
        self.values, self.updates = self._current(), 0

    def _current(self):
        """A copy of the parameters as they are, from the first device."""
        return {name: p.data(p.list_ctx()[0]).copy() for name, p in self.params.items()}

    def update(self):
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for name, p in self.params.items():
            value = self.values[name]
            value *= decay
            value += (1 - decay) * p.data(value.context)
        self.updates += 1

    @contextlib.contextmanager
    def applied(self):
        """The model holds the averages (on every device) inside the block, its own parameters after."""
        own = self._current()
        self._set(self.values)
        try:
            yield
        finally:
            self._set(own)

    def _set(self, values):
        for name, p in self.params.items():
            p.set_data(values[name])

    def save(self, path):
        with atomic_path(path) as tmp:
            mx.nd.save(tmp, self.values)

    def load(self, path, updates):
        """Go on from the average in ``path``, made of ``updates`` updates."""
        self.updates = updates
        stored = mx.nd.load(path)
        if set(stored) != set(self.values) or any(stored[n].shape != v.shape for n, v in self.values.items()):
            raise ValueError(f"{path} is the parameter average of another model; resume with the run's own flags")
        for name, value in self.values.items():
            stored[name].copyto(value)
