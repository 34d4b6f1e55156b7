"""A training run's log: TensorBoard's event file and the picture files. The only code that writes
through mxboard."""
import os
import time

from mxboard import SummaryWriter
from mxboard.proto.event_pb2 import Event, SessionLog
from mxboard.summary import Summary

from .io import atomic_write


def image_summary(tag, encoded, frame):
    """A TensorBoard image summary holding already-encoded bytes (PNG, or a GIF it animates) of the
    picture whose last frame is ``frame`` (H, W, 3). mxboard's ``add_image`` always re-encodes as
    PNG, which would drop every frame but the first."""
    height, width, channels = frame.shape
    image = Summary.Image(height=height, width=width, colorspace=channels, encoded_image_string=encoded)
    return Summary(value=[Summary.Value(tag=tag, image=image)])


class RunLog:
    """The log of the run in ``run_dir``, continuing after ``first_step`` (the images seen when it
    opens): scalars and pictures in its event file, and each picture also as a file under
    ``run_dir/pictures``. Use it as a context manager."""

    def __init__(self, run_dir, first_step):
        self.run_dir = run_dir
        # mxboard names event files by the whole second: a resume within the same second as the run
        # it continues would reuse that file and wipe its events, so each log gets a suffix of its own.
        self._writer = SummaryWriter(logdir=run_dir, flush_secs=10, verbose=False,
                                     filename_suffix=f".{time.time_ns()}")
        # mxboard has no public call for an event of its own or an encoded image: its file writer does.
        self._events = self._writer._file_writer
        # A START event makes TensorBoard drop the events at later steps, left by a run killed after
        # its last checkpoint; it heeds START only in files that declare version 2 (mxboard's do not).
        self._events.add_event(Event(wall_time=time.time(), file_version="brain.Event:2"))
        start = SessionLog(status=SessionLog.START)
        self._events.add_event(Event(wall_time=time.time(), step=first_step + 1, session_log=start))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._writer.close()

    def scalars(self, prefix, values, step):
        """Each of ``values`` ({name: number}) as the scalar ``prefix/name`` at ``step``."""
        for name, value in values.items():
            self._writer.add_scalar(f"{prefix}/{name}", value, step)

    def pictures(self, shown, step):
        """``shown`` ({name: (encoded bytes, extension, last frame)}) as ``pictures/<name>-<step>.<ext>``
        files and TensorBoard images (which animate a GIF)."""
        folder = os.path.join(self.run_dir, "pictures")
        os.makedirs(folder, exist_ok=True)
        for name, (encoded, ext, frame) in shown.items():
            atomic_write(os.path.join(folder, f"{name}-{step:010d}.{ext}"), encoded)
            self._events.add_summary(image_summary(f"pictures/{name}", encoded, frame), step)


class SilentLog:
    """Stands in for :class:`RunLog` on the workers other than rank 0, which write nothing."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def scalars(self, prefix, values, step):
        pass

    def pictures(self, shown, step):
        pass
