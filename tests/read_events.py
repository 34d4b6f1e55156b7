"""Print a run folder's TensorBoard events as JSON, read with TensorBoard's own EventAccumulator.

Runs in its own process, as TensorBoard does: TensorBoard's protobuf classes and mxboard's register
the same message names and cannot be imported into one Python process.
Usage: python read_events.py RUN_DIR
"""
import base64
import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

accumulator = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "images": 0})
accumulator.Reload()
tags = accumulator.Tags()
print(json.dumps({
    "scalars": {t: [[e.step, e.value] for e in accumulator.Scalars(t)] for t in tags["scalars"]},
    "images": {t: [{"step": e.step, "width": e.width, "height": e.height,
                    "encoded": base64.b64encode(e.encoded_image_string).decode()}
                   for e in accumulator.Images(t)] for t in tags["images"]},
}))
