"""The read-only attention classifier of section 4.1 ("differentiable RAM").

One LSTM takes a glimpse through DRAW's selective read at each step, the window of glimpse ``t``
placed by the LSTM's previous hidden state (eq 21 with ``h_{t-1}`` in place of ``h_dec``); after
the last glimpse a softmax layer classifies. There is no canvas, so the read takes the image alone
(no error image), and nothing is written.
"""
import mxnet as mx
from mxnet.gluon import nn

from .attention import Glimpse
from .checkpoint import SavedBlock
from .config import ClassifierConfig
from .fast import LSTMCell
from .model import InitialState, _quiet_unused_inputs


class Classifier(SavedBlock):
    """Classify images with a sequence of attention glimpses (section 4.1 of arXiv:1502.04623).

    Parameters
    ----------
    config : ClassifierConfig, optional
        Hyperparameters; the paper's cluttered MNIST model (8 glimpses of 12x12, 256 units) by default.

    Inputs
    ------
    x : (B, C, H, W) or (B, C*H*W) images with values in [0, 1].

    Outputs
    -------
    logits : (B, num_classes) class scores; ``softmax(logits)`` are the class probabilities.
    """

    config_class = ClassifierConfig

    def __init__(self, config=None, **kwargs):
        super().__init__(**kwargs)
        self.config = config = config or ClassifierConfig()
        with self.name_scope():
            self.read = Glimpse(config.read_size, config.image_shape)
            self.lstm = LSTMCell(config.hidden_size, input_size=self.read.size)
            self.init_state = InitialState(config.hidden_size, config.learn_init_state)
            self.output = nn.Dense(config.num_classes, in_units=config.hidden_size)

    def hybrid_forward(self, F, x):
        return self._unroll(F, x)[0]

    def _unroll(self, F, x):
        x = x.reshape((0, -1))
        state, windows = self.init_state(x), []
        for _ in range(self.config.num_glimpses):
            r, window = self.read(x, state[0])
            windows.append(window)
            _, state = self.lstm(r, state)
        return self.output(state[0]), windows

    def glimpses(self, x):
        """The logits and the read window of every glimpse, ``(B, num_classes)`` and ``(B, T, 5)``
        (``attention.WINDOW_FIELDS``); runs imperatively, for pictures and analysis."""
        if tuple(x.shape[1:]) != self.config.image_shape:
            raise ValueError(f"the classifier expects images of shape (batch, "
                             f"{', '.join(map(str, self.config.image_shape))}), got {tuple(x.shape)}")
        with _quiet_unused_inputs():
            logits, windows = self._unroll(mx.nd, x)
        return logits, mx.nd.stack(*windows, axis=1)

