"""``draw-gluon demo``: a static web page in which a trained DRAW draws, glimpse by glimpse, with no
Python and no MXNet: its generator exported to ONNX (:mod:`draw_gluon.export`) and run in the browser
by onnxruntime-web, which comes from the npm registry once and is kept in the download cache.

The page (``draw_gluon/web``) reads ``demo.json`` for what the model draws; when its first batch is
drawn it sets ``document.title`` to ``draw-gluon: drew N samples``.
"""
import base64
import functools
import http.server
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error

from .classifier import Classifier
from .data.common import cache_folder, download
from .export import export_model
from .io import atomic_dir, file_digest

PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
ORT_WEB = "onnxruntime-web"
ORT_VERSION = "1.31.1"
# the registry's published dist.integrity of onnxruntime-web 1.31.1 (npm view onnxruntime-web@1.31.1 dist.integrity)
ORT_INTEGRITY = "sha512-5GeH+bWQ+HxM10z7erGlsWqryrwMbSvm/1tkIsKTT48g0fI19VXVVC435t4t7VsPdSQeS7NmuZPXrQ73k82URw=="
REGISTRY = "https://registry.npmjs.org"
# what the page loads: the WebAssembly build (no WebGL/WebGPU), its loader and its binary
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
MIME = {".wasm": "application/wasm", ".mjs": "text/javascript", ".js": "text/javascript", ".onnx": "application/octet-stream"}


def make_demo(model, out_dir, name="draw", num=16, seed=0, seconds=4.0, scale=4, **fetch):
    """Write the demo page of the DRAW ``model`` into ``out_dir`` (replaced atomically): ``index.html``,
    ``draw.js``, ``demo.json``, ``generator.onnx`` and onnxruntime-web's files; returns the paths.

    The page draws ``num`` samples at a time from noise seeded with ``seed`` (then ``seed + 1``...),
    each animation lasting ``seconds``, canvases shown ``scale`` times their size. ``fetch`` goes to
    :func:`onnxruntime_web`. Raises ``ValueError`` for a classifier or a model ONNX cannot express.
    """
    if isinstance(model, Classifier):
        raise ValueError(f"{name} is a classifier, which draws nothing; the demo needs a DRAW model")
    ort = onnxruntime_web(**fetch)
    config = model.config
    spec = dict(name=name, image_shape=config.image_shape, num_steps=config.num_steps, z_size=config.z_size,
                attention=config.attention, write_size=config.write_size, num=num, seed=seed, seconds=seconds,
                scale=scale, onnxruntime_web=ORT_VERSION)
    with atomic_dir(out_dir) as tmp:
        with tempfile.TemporaryDirectory() as exported:
            export_model(model, os.path.join(exported, "onnx"), format="onnx", parts=("generator",))
            shutil.copy(os.path.join(exported, "onnx", "generator.onnx"), tmp)
        for folder, files in ((PAGE, ("index.html", "draw.js")), (ort, ORT_FILES)):
            for file in files:
                shutil.copy(os.path.join(folder, file), tmp)
        with open(os.path.join(tmp, "demo.json"), "w") as f:
            json.dump(spec, f, indent=2)
        written = sorted(os.listdir(tmp))
    return [os.path.join(out_dir, file) for file in written]


def onnxruntime_web(cache_dir=None, registry=None, version=ORT_VERSION, integrity=ORT_INTEGRITY):
    """The folder holding onnxruntime-web's browser files (``ORT_FILES``): from the cache, else
    unpacked from the package's tarball, which is fetched once (``npm pack`` where npm exists, else
    over HTTPS from ``registry``, default ``REGISTRY``) and checked against its published ``integrity``."""
    cache, registry = cache_folder(cache_dir), registry or REGISTRY
    folder = os.path.join(cache, f"{ORT_WEB}-{version}")
    if all(os.path.isfile(os.path.join(folder, file)) for file in ORT_FILES):
        return folder
    tarball = os.path.join(cache, f"{ORT_WEB}-{version}.tgz")
    if not os.path.isfile(tarball):
        _fetch(tarball, registry, version)
    if _integrity(tarball) != integrity:
        os.remove(tarball)
        raise ValueError(f"{tarball} is not {ORT_WEB} {version} as published (its integrity is not {integrity}); "
                         "it was deleted: run again to fetch it again")
    with tarfile.open(tarball) as archive, atomic_dir(folder) as tmp:
        for file in ORT_FILES:  # only these members, each written under its own name
            with archive.extractfile(f"package/dist/{file}") as source, open(os.path.join(tmp, file), "wb") as f:
                shutil.copyfileobj(source, f)
    return folder


def _fetch(tarball, registry, version):
    """Put the package's tarball at ``tarball``: with npm, else from the registry over HTTPS."""
    cache = os.path.dirname(tarball)
    os.makedirs(cache, exist_ok=True)
    where = (f"put {os.path.basename(tarball)} (npm pack {ORT_WEB}@{version}, or {_tarball_url(registry, version)}) "
             f"in {cache} and run again")
    npm = shutil.which("npm")
    if npm:
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            done = subprocess.run([npm, "pack", f"{ORT_WEB}@{version}", "--pack-destination", tmp, "--registry",
                                   registry], capture_output=True, text=True)
            packed = os.path.join(tmp, os.path.basename(tarball))
            if done.returncode or not os.path.isfile(packed):
                reason = (done.stderr.strip().splitlines() or ["no tarball written"])[-1]
                raise ValueError(f"npm cannot fetch {ORT_WEB} {version} ({reason}); {where}")
            os.replace(packed, tarball)
        return
    try:
        download(_tarball_url(registry, version), tarball)
    except (urllib.error.URLError, OSError) as err:
        raise ValueError(f"cannot download {ORT_WEB} {version} and npm is not installed ({err}); {where}") from None


def _tarball_url(registry, version):
    return f"{registry.rstrip('/')}/{ORT_WEB}/-/{ORT_WEB}-{version}.tgz"


def _integrity(path):
    """The file's integrity string as npm's registry publishes it: ``sha512-`` and the base64 digest."""
    return "sha512-" + base64.b64encode(bytes.fromhex(file_digest(path, "sha512"))).decode()


def server(folder, port=0):
    """An HTTP server of ``folder`` on 127.0.0.1 (``port`` 0: any free one), with the MIME types the
    page needs; call ``serve_forever()`` on it. Its address: ``server.server_address``."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME}

        def log_message(self, *args):  # quiet: the command prints the address, not every request
            pass

    return http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Handler, directory=folder))
