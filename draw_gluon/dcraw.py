"""DCRAW: DRAW reading convolutional feature maps instead of pixels (the write still draws the image).

With a front end ``phi`` the read sees ``phi(x)`` and the error ``phi(x) - phi(sigmoid(c_{t-1}))``
(see :meth:`draw_gluon.DRAW.encoder_inputs`); what the model learns to draw can be another image
than the one it reads (:mod:`draw_gluon.data.targets`: denoising, inpainting).
"""
import numpy as np
from mxnet.gluon import HybridBlock, nn


class ConvFeatures(HybridBlock):
    """DCRAW's convolutional front end: 3x3 convolutions of stride 2 (padding 1), each followed by
    a ReLU, from flat images ``(B, C*H*W)`` to flat feature maps ``(B, K*H'*W')`` of :attr:`shape`.

    Each layer halves the height and width (rounding up), so feature ``(j, i)`` (1-based) is centred
    on pixel ``(s (j - 1) + 1, s (i - 1) + 1)`` with ``s`` the :attr:`stride`.
    """

    def __init__(self, channels, image_shape, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        c, height, width = self.image_shape
        with self.name_scope():
            self.layers = nn.HybridSequential()
            for k in channels:
                self.layers.add(nn.Conv2D(k, 3, strides=2, padding=1, in_channels=c, activation="relu"))
                c, height, width = k, (height + 1) // 2, (width + 1) // 2
        self.shape, self.stride = (c, height, width), 2 ** len(channels)

    def hybrid_forward(self, F, x):
        return self.layers(x.reshape((0,) + self.image_shape)).reshape((0, -1))

    def window_on_image(self, windows):
        """Read windows ``(..., 5)`` (NumPy, ``attention.WINDOW_FIELDS``) placed on the feature maps,
        as the same windows in the image's pixel coordinates."""
        s = self.stride
        gX, gY, sigma2, delta, gamma = (windows[..., k] for k in range(5))
        return np.stack([s * (gX - 1) + 1, s * (gY - 1) + 1, s * s * sigma2, s * delta, gamma], axis=-1)
