"""How fast DRAW trains and samples on this machine, against the machine's own matrix-product ceiling.

    python benchmarks/speed.py                 # the table of docs/performance.md
    python benchmarks/speed.py --profile       # where one training step of the paper's model spends its time
    python benchmarks/speed.py --threads       # training speed under MXNet's thread settings
    python benchmarks/speed.py --sampling      # the shipped models' sampling: MXNet (fused, plain), onnxruntime

Each configuration runs in a fresh process (so peak memory is its own). Training throughput is the
median of timed updates (forward, backward, Adam, clipping: ``draw_gluon.train.train_step``) after
warm-up, with draw-gluon's fused CPU kernels (when they build here) and with MXNet's operators only
(``draw_gluon.fused.disabled``), both in the same process; sampling is the median over 4 rounds of
``generate(1000)``'s work with each, and of the exported generator in onnxruntime, rotating which goes
first. The ceiling is the GFLOP/s of
``FullyConnected`` at the model's own matrix shapes, measured in the same run; the roofline share is
the achieved matrix-product FLOP/s over that ceiling. "Products alone" times the model's
``FullyConnected`` products by themselves, per glimpse and (for training) with their backward, as
autograd runs them in the model: the speed it would reach if every other operator took no time, so
the most that fusing the other operators can give.
"""
import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from draw_gluon.runtime import cpu_defaults, start_engine  # noqa: E402

cpu_defaults()  # before MXNet loads, as train_mnist.py does
start_engine()  # its log line first, not after our last one

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from draw_gluon import DRAW, DRAWConfig, export_model, fused, model_zoo, viz  # noqa: E402
from draw_gluon.model import Generator  # noqa: E402
from draw_gluon.io import atomic_write  # noqa: E402
from draw_gluon.train import Part, TrainConfig, VariationalBound, make_trainer, train_step  # noqa: E402

BATCH = 128
SAMPLES = 1000  # images per generate() call timed for sampling
CONFIGS = {
    "paper, attention": DRAWConfig(),
    "paper, no attention": DRAWConfig(attention=False),
    "small, attention": DRAWConfig().replace(num_steps=16, enc_size=128, dec_size=128,
                                                                 z_size=20),
}


def decoder_shapes(config):
    """The (in, out) shapes of the linear maps of the decoder and the write, once per glimpse (eqs 7, 28)
    both in training and in sampling."""
    C = config.image_shape[0]
    write = 5 + C * config.write_size ** 2 if config.attention else config.num_pixels
    return [(config.z_size, 4 * config.dec_size), (config.dec_size, 4 * config.dec_size),
            (config.dec_size, write)]


def matmul_shapes(config):
    """The (in, out) shapes of every linear map DRAW applies once per glimpse in training (eqs 1-2, 5,
    7, 21, 28)."""
    # without attention the image's share of the read is projected once (fast.folded_encoder)
    read = 2 * config.image_shape[0] * config.read_size ** 2 if config.attention else config.num_pixels
    encoder = [(read + config.dec_size, 4 * config.enc_size), (config.enc_size, 4 * config.enc_size),  # (5)
               (config.enc_size, 2 * config.z_size)]  # (1)-(2)
    return encoder + decoder_shapes(config) + ([(config.dec_size, 5)] if config.attention else [])  # (21)


def filter_flops(config):
    """Forward FLOPs per sample per glimpse of the filterbank products (eqs 27 and 29)."""
    if not config.attention:
        return 0
    C, H, W = config.image_shape
    R, N = config.read_size, config.write_size
    read = 2 * C * (H * W * R + H * R * R) * 2  # x and x_hat, F_Y x F_X^T
    write = C * (N * N * H + H * N * W) * 2
    return read + write


def flops_per_sample(config):
    """Training FLOPs per image: forward matrix products over T glimpses, times 3 for the backward."""
    per_step = sum(2 * i * o for i, o in matmul_shapes(config)) + filter_flops(config)
    once = 0 if config.attention else 2 * config.num_pixels * 4 * config.enc_size
    return 3 * (config.num_steps * per_step + once)


def median_seconds(run, repeats, warmup=2):
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fc_ceiling(config, repeats=20):
    """GFLOP/s of FullyConnected (oneDNN) on the model's matrix shapes at the training batch size."""
    flops, seconds = 0, 0.0
    for i, o in matmul_shapes(config):
        x, w, b = mx.nd.random.normal(shape=(BATCH, i)), mx.nd.random.normal(shape=(o, i)), mx.nd.zeros(o)

        def run():
            for _ in range(10):
                y = mx.nd.FullyConnected(x, w, b, num_hidden=o)
            y.wait_to_read()

        seconds += median_seconds(run, repeats)
        flops += 10 * 2 * BATCH * i * o
    return flops / seconds / 1e9


def fc_floor(shapes, batch, steps, backward=True, repeats=5):
    """Seconds of ``steps`` glimpses of ``FullyConnected`` products alone, with ``shapes`` (in, out)
    at ``batch``: forward, and with ``backward`` the gradients of their inputs and (summed over the
    glimpses) weights, as autograd runs them in the model. The time the model would take if every
    other operator cost nothing."""
    weights = [mx.nd.random.normal(shape=(o, i)) for i, o in shapes]
    inputs = [[mx.nd.random.normal(shape=(batch, i)) for i, _ in shapes] for _ in range(steps)]
    for array in weights + sum(inputs, []):
        array.attach_grad()

    def run():
        with mx.autograd.record(train_mode=backward):
            outputs = [mx.nd.FullyConnected(x, w, no_bias=True, num_hidden=w.shape[0])
                       for step in inputs for x, w in zip(step, weights)]
        if backward:
            mx.autograd.backward(outputs, [mx.nd.ones_like(y) for y in outputs])
        mx.nd.waitall()

    return median_seconds(run, repeats)


def training_setup(config, hybridize=True):
    """A model, Adam trainer and random binary batch as ``train_mnist.py`` uses them; returns a
    function running one update."""
    model = DRAW(config)
    model.initialize(mx.init.Xavier())
    if hybridize:
        model.hybridize(static_alloc=True, static_shape=True)
    options = TrainConfig(num_train_samples=10 ** 6, batch_size=BATCH)
    trainer, objective = make_trainer(model, options, 1), VariationalBound(config, seed=0)
    x = (mx.nd.random.uniform(shape=(BATCH,) + config.image_shape) > 0.5).astype("float32")
    return model, x, lambda: train_step(model, objective, trainer, [Part(x, None, len(x))], 10.0)


def training_speed(config, hybridize, repeats, after_validation=False):
    model, x, step = training_setup(config, hybridize)
    speed = BATCH / median_seconds(step, repeats)
    if not after_validation:
        return speed
    model(mx.nd.tile(x, (8, 1, 1, 1)))[0].wait_to_read()
    viz.upscale(model.generate(16)[0].reshape((-1, 1, 28, 28)).asnumpy(), 4)
    return speed, BATCH / median_seconds(step, repeats)


def sampling_speed(model, n=SAMPLES, repeats=3):
    """Images per second of ``model.generate(n)``'s work (noise, every canvas, the windows), through a
    generator traced afresh, so that it takes the fused kernels or MXNet's operators as now chosen."""
    generator = Generator(model)
    generator.hybridize(static_alloc=True)

    def sample():
        generator(model.noise(n))
        mx.nd.waitall()
    return n / median_seconds(sample, repeats, warmup=1)


def onnx_sampling(model, n=SAMPLES, repeats=3):
    """A function measuring the same sampling through onnxruntime (the generator exported to ONNX,
    opset 13, its noise drawn beforehand), or None without onnxruntime."""
    try:
        import onnxruntime
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as folder:
        export_model(model, folder, format="onnx")
        session = onnxruntime.InferenceSession(os.path.join(folder, "generator.onnx"))
    z = np.random.RandomState(0).standard_normal((n, model.config.num_steps, model.config.z_size)).astype(np.float32)
    return lambda: n / median_seconds(lambda: session.run(None, {"z": z}), repeats, warmup=1)


def sampling_speeds(model, rounds=4):
    """Median sampling speed of ``model`` with the fused kernels, with MXNet's operators only, and in
    onnxruntime (NaN without it), over ``rounds`` that rotate which goes first (on a shared machine,
    order alone can bias a comparison)."""
    onnx = onnx_sampling(model)
    ways = {"fused": lambda: sampling_speed(model), "reference": lambda: sampling_speed(model),
            "onnx": onnx or (lambda: float("nan"))}
    speeds = {way: [] for way in ways}
    for k in range(rounds):
        for way in list(ways)[k % 3:] + list(ways)[:k % 3]:
            with fused.disabled() if way != "fused" else contextlib.nullcontext():
                speeds[way].append(ways[way]())
    return [statistics.median(speeds[way]) for way in ways]


def measure(name, repeats):
    config = CONFIGS[name]
    with fused.disabled():
        reference = training_speed(config, True, repeats)
    model = DRAW(config)
    model.initialize(mx.init.Xavier())
    sampling, sampling_reference, sampling_onnx = sampling_speeds(model)
    result = {"config": name, "flops_per_sample": flops_per_sample(config), "fused": fused.enabled(),
              "hybridized": training_speed(config, True, repeats), "reference": reference,
              "sampling_reference": sampling_reference, "sampling_onnx": sampling_onnx,
              "imperative": training_speed(config, False, max(3, repeats // 3)),
              "sampling": sampling, "fc_gflops": fc_ceiling(config),
              "fc_only": BATCH / fc_floor(matmul_shapes(config), BATCH, config.num_steps),
              "sampling_fc_only": SAMPLES / fc_floor(decoder_shapes(config), SAMPLES, config.num_steps,
                                                     backward=False)}
    share = lambda speed: speed * result["flops_per_sample"] / (result["fc_gflops"] * 1e9)
    result["roofline_share"], result["fc_only_share"] = share(result["hybridized"]), share(result["fc_only"])
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


THREAD_SETTINGS = ["OMP_NUM_THREADS=1 MXNET_ENGINE_TYPE=ThreadedEnginePerDevice",
                   "OMP_NUM_THREADS=2 MXNET_ENGINE_TYPE=ThreadedEnginePerDevice",
                   "OMP_NUM_THREADS=2 MXNET_ENGINE_TYPE=NaiveEngine",
                   "OMP_NUM_THREADS=1 MXNET_ENGINE_TYPE=ThreadedEnginePerDevice MXNET_CPU_WORKER_NTHREADS=2"]


def thread_table(repeats):
    """Paper-model training speed (with attention) in a fresh process per environment setting, before
    and after what a validation does (a pass at batch 1000, pictures upscaled by MXNet)."""
    lines = ["| environment | train samples/s | after a validation |", "| --- | ---: | ---: |"]
    for setting in THREAD_SETTINGS:
        env = dict(os.environ, **dict(kv.split("=") for kv in setting.split()))
        out = subprocess.run([sys.executable, __file__, "--one-training", "paper, attention", "--repeats",
                              str(repeats)], env=env, check=True, capture_output=True, text=True).stdout
        before, after = out.split()[-2:]
        lines.append(f"| `{setting}` | {float(before):.0f} | {float(after):.0f} |")
    return "\n".join(lines)


def table(results):
    lines = ["| config | train samples/s (hybridized) | MXNet operators only | imperative | products alone "
             "| sampling images/s | MXNet operators only | onnxruntime | products alone | train MFLOP/sample "
             "| FC ceiling GFLOP/s | roofline share | products alone | peak memory MB |",
             "| --- |" + " ---: |" * 13]
    for r in results:
        lines.append(f"| {r['config']} | {r['hybridized']:.0f} | {r['reference']:.0f} | {r['imperative']:.0f} | "
                     f"{r['fc_only']:.0f} | {r['sampling']:.0f} | {r['sampling_reference']:.0f} | "
                     f"{r.get('sampling_onnx', float('nan')):.0f} | "
                     f"{r['sampling_fc_only']:.0f} | {r['flops_per_sample'] / 1e6:.0f} | {r['fc_gflops']:.0f} | "
                     f"{100 * r['roofline_share']:.0f}% | {100 * r['fc_only_share']:.0f}% | {r['peak_mb']:.0f} |")
    return "\n".join(lines)


def profile(name):
    """Aggregate MXNet profiler statistics of three training steps, the top operators by total time."""
    _, _, step = training_setup(CONFIGS[name])
    for _ in range(2):
        step()
    mx.profiler.set_config(profile_imperative=True, profile_symbolic=True, aggregate_stats=True,
                           filename=os.path.join("/tmp", "draw-profile.json"))
    mx.profiler.set_state("run")
    for _ in range(3):
        step()
    mx.nd.waitall()
    mx.profiler.set_state("stop")
    return mx.profiler.dumps(format="table", sort_by="total", ascending=False)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7, help="timed training updates per configuration")
    p.add_argument("--json", default=os.path.join(ROOT, "benchmarks", "speed.json"), help="write results here")
    p.add_argument("--profile", action="store_true", help="print the operator profile of the paper's model")
    p.add_argument("--threads", action="store_true", help="compare MXNet thread settings")
    p.add_argument("--sampling", action="store_true",
                   help="sampling alone: MXNet with the fused kernels, with its own operators, and onnxruntime")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one configuration, print JSON
    p.add_argument("--one-training", help=argparse.SUPPRESS)  # internal: training speed only
    args = p.parse_args()
    if args.profile:
        print(profile("paper, attention"))
        return
    if args.threads:
        print(thread_table(args.repeats))
        return
    if args.sampling:
        print("| shipped model | MXNet, fused kernels | MXNet operators only | onnxruntime |  (images/s)\n"
              "| --- | ---: | ---: | ---: |")
        for name in model_zoo.names():
            model = model_zoo.pretrained(name)
            if isinstance(model, DRAW):  # the classifier draws nothing
                print(f"| {name} | " + " | ".join(f"{v:.0f}" for v in sampling_speeds(model)) + " |", flush=True)
        return
    if args.one_training:
        print(*training_speed(CONFIGS[args.one_training], True, args.repeats, after_validation=True))
        return
    if args.one:
        print(json.dumps(measure(args.one, args.repeats)))
        return
    results = []
    for name in CONFIGS:
        print(f"measuring {name} ...", file=sys.stderr)
        out = subprocess.run([sys.executable, __file__, "--one", name, "--repeats", str(args.repeats)],
                             check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    print(table(results))
    record = {"cpus": os.cpu_count(), "mxnet": mx.__version__, "batch": BATCH, "results": results}
    atomic_write(args.json, (json.dumps(record, indent=2) + "\n").encode())


if __name__ == "__main__":
    main()
