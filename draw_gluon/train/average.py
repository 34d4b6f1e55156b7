"""An exponential moving average of a model's parameters (``--ema DECAY``), what current VAE training
code validates, tests and ships in place of the last update's parameters."""
import contextlib

import mxnet as mx

from ..checkpoint import parameter_names
from ..io import atomic_path


class ParameterAverage:
    """``average <- decay * average + (1 - decay) * parameter`` after every update, for each parameter
    of ``model`` (fixed ones stay as they are), on its first device. A checkpoint keeps it as :attr:`FILE` (MXNet's array
    file, keyed by the parameters' structural names), so a resumed run goes on with it exactly."""

    FILE = "ema.params"

    def __init__(self, model, decay):
        self.decay = decay
        params = list(model.collect_params().values())
        self.params = dict(zip(parameter_names(model, params), params))
        self.values = {}
        self.reset()

    def reset(self):
        """Start the average at the parameters as they are."""
        self.values = self._current()

    def _current(self):
        """A copy of the parameters as they are, from the first device."""
        return {name: p.data(p.list_ctx()[0]).copy() for name, p in self.params.items()}

    def update(self):
        for name, p in self.params.items():
            value = self.values[name]
            value *= self.decay
            value += (1 - self.decay) * p.data(value.context)

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

    def load(self, path):
        stored = mx.nd.load(path)
        if set(stored) != set(self.values) or any(stored[n].shape != v.shape for n, v in self.values.items()):
            raise ValueError(f"{path} is the parameter average of another model; resume with the run's own flags")
        for name, value in self.values.items():
            stored[name].copyto(value)
