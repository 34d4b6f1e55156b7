"""Every hyperparameter of a DRAW model in one JSON-serialisable object.

The presets are the paper's Table 3 (arXiv:1502.04623).
"""
import dataclasses
import json

from .io import atomic_write


@dataclasses.dataclass(frozen=True)
class DRAWConfig:
    """Hyperparameters of a :class:`~draw_gluon.DRAW` model.

    Parameters
    ----------
    image_shape : tuple of int
        ``(C, H, W)``: channels, height ``B`` and width ``A`` in the paper's notation.
    num_steps : int
        Number of glimpses ``T``.
    enc_size, dec_size : int
        Units of the encoder and decoder LSTMs.
    z_size : int
        Dimension of each latent ``z_t``.
    attention : bool
        Selective attention (section 3.2) if True, else read/write without attention (section 3.1).
    read_size, write_size : int
        Filter grid sizes ``N`` of the read and write attention (ignored without attention).
    learn_init_state : bool
        Learn the LSTMs' initial hidden and cell states; zeros if False.
    """

    image_shape: tuple = (1, 28, 28)
    num_steps: int = 64
    enc_size: int = 256
    dec_size: int = 256
    z_size: int = 100
    attention: bool = True
    read_size: int = 2
    write_size: int = 5
    learn_init_state: bool = True

    def __post_init__(self):
        object.__setattr__(self, "image_shape", tuple(int(s) for s in self.image_shape))
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be (C, H, W) with positive sizes, got {self.image_shape}")
        for name in ("num_steps", "enc_size", "dec_size", "z_size", "read_size", "write_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("attention", "learn_init_state"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")

    @property
    def num_pixels(self):
        """Values per image, ``C * H * W``."""
        c, h, w = self.image_shape
        return c * h * w

    def replace(self, **changes):
        """A copy with some fields changed (validated like a new config)."""
        return dataclasses.replace(self, **changes)

    def to_json(self, path):
        """Write the config as JSON to ``path`` atomically."""
        text = json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"
        atomic_write(path, text.encode())

    @classmethod
    def from_json(cls, path):
        """Read a config written by :meth:`to_json`; unknown or missing keys are an error."""
        with open(path) as f:
            try:
                fields = json.load(f)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path} is not valid JSON ({err}); re-save the model config") from None
        known = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(fields, dict) or set(fields) != known:
            raise ValueError(f"{path} must hold exactly the keys {sorted(known)}; re-save the model config")
        return cls(**fields)

    # Presets: the paper's Table 3.
    @classmethod
    def mnist(cls, attention=True):
        """MNIST model: 64 glimpses, 256 LSTM units, 100 latent dims, read 2x2, write 5x5."""
        return cls(image_shape=(1, 28, 28), num_steps=64, enc_size=256, dec_size=256, z_size=100,
                   attention=attention, read_size=2, write_size=5)

    @classmethod
    def svhn(cls):
        """SVHN model: 32 glimpses, 800 LSTM units, 100 latent dims, read and write 12x12, RGB 64x64."""
        return cls(image_shape=(3, 64, 64), num_steps=32, enc_size=800, dec_size=800, z_size=100,
                   attention=True, read_size=12, write_size=12)

    @classmethod
    def cifar10(cls):
        """CIFAR-10 model: 64 glimpses, 400 LSTM units, 200 latent dims, read and write 5x5, RGB 32x32."""
        return cls(image_shape=(3, 32, 32), num_steps=64, enc_size=400, dec_size=400, z_size=200,
                   attention=True, read_size=5, write_size=5)
