"""Every hyperparameter of a model in one JSON-serialisable object: DRAW, or the section 4.1 classifier.

The defaults are the paper's MNIST models (Table 3 of arXiv:1502.04623); the model of every
experiment is its recipe's (:func:`draw_gluon.recipes.config`).
"""
import dataclasses
import json

from .io import atomic_write


class _Config:
    """What every model config shares: checks of its fields, a JSON round trip, ``replace``.

    Fields are checked by their defaults' types: ``image_shape`` is (C, H, W) with positive sizes,
    an int field must be a positive integer, a bool field true or false.
    """

    def __post_init__(self):
        object.__setattr__(self, "image_shape", tuple(int(s) for s in self.image_shape))
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be (C, H, W) with positive sizes, got {self.image_shape}")
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(field.default, bool) and not isinstance(value, bool):
                raise ValueError(f"{field.name} must be true or false, got {value!r}")
            if type(field.default) is int and (type(value) is not int or value < 1):
                raise ValueError(f"{field.name} must be a positive integer, got {value!r}")

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

    # Fields added after models were first saved: a config.json without them takes their defaults.
    added = ()

    @classmethod
    def reads(cls, fields):
        """Whether the JSON object ``fields`` is a config of this class (possibly saved before the
        ``added`` fields existed)."""
        known = {f.name for f in dataclasses.fields(cls)}
        return isinstance(fields, dict) and known - set(cls.added) <= set(fields) <= known

    @classmethod
    def from_json(cls, path):
        """Read a config written by :meth:`to_json`; unknown or missing keys are an error."""
        fields = _read_json(path)
        if not cls.reads(fields):
            known = sorted(f.name for f in dataclasses.fields(cls))
            raise ValueError(f"{path} must hold exactly the keys {known}; re-save the model config")
        return cls(**fields)


def _read_json(path):
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err}); re-save the model config") from None


@dataclasses.dataclass(frozen=True)
class DRAWConfig(_Config):
    """Hyperparameters of a :class:`~draw_gluon.DRAW` model; the defaults are the paper's MNIST model
    with attention (Table 3: 64 glimpses, 256 LSTM units, 100 latent dimensions, read 2x2, write 5x5).

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
    conv : tuple of int
        Channels of a convolutional front end (DCRAW), one strided 3x3 convolution each: the
        encoder then reads feature maps, not pixels (:class:`~draw_gluon.dcraw.ConvFeatures`).
        Empty (the paper's model): it reads the image.
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
    conv: tuple = ()

    added = ("conv",)

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "conv", tuple(self.conv))
        if not all(type(c) is int and c > 0 for c in self.conv):
            raise ValueError(f"conv must list positive channel counts, got {self.conv}")


@dataclasses.dataclass(frozen=True)
class ClassifierConfig(_Config):
    """Hyperparameters of a :class:`~draw_gluon.Classifier`, the read-only attention network of
    section 4.1 (defaults: the paper's cluttered MNIST model, Table 3).

    Parameters
    ----------
    image_shape : tuple of int
        ``(C, H, W)`` of the images to classify.
    num_glimpses : int
        Glimpses ``T`` before the softmax classifies.
    hidden_size : int
        Units of the LSTM.
    read_size : int
        The read's filter grid size ``N`` (an ``N x N`` glimpse).
    num_classes : int
        Outputs of the softmax layer.
    learn_init_state : bool
        Learn the LSTM's initial state (and so the first glimpse's window); zeros if False.
    """

    image_shape: tuple = (1, 100, 100)
    num_glimpses: int = 8
    hidden_size: int = 256
    read_size: int = 12
    num_classes: int = 10
    learn_init_state: bool = True


CONFIGS = (DRAWConfig, ClassifierConfig)


def read_config(path):
    """The config (a :class:`DRAWConfig` or a :class:`ClassifierConfig`) saved at ``path``, told
    apart by its keys."""
    fields = _read_json(path)
    for cls in CONFIGS:
        if cls.reads(fields):
            return cls(**fields)
    raise ValueError(f"{path} holds neither a DRAW nor a classifier config; re-save the model config")
