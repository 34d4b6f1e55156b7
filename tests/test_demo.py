"""``draw-gluon demo``: the page draws in a real browser (headless Chromium) what onnxruntime in Python
draws from the same noise; onnxruntime-web is fetched (npm, else HTTPS), checked and cached, from
servers on 127.0.0.1; what cannot be drawn or fetched gets one line."""
import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from draw_gluon import demo
from draw_gluon.cli import main as cli
from helpers import ROOT, make_model, serving, tiny_config

ort = pytest.importorskip("onnxruntime")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# .ci/run installs Chromium and sets this, so that CI cannot skip the browser test
needs_browser = pytest.mark.skipif(not CHROMIUM and not os.environ.get("DRAW_REQUIRE_BROWSER"),
                                   reason="needs Chromium (Debian: apt-get install chromium)")


def mulberry32_normals(count, seed):
    """The page's noise (draw.js, ``normals``), re-derived: mulberry32 uniforms, Box-Muller pairs."""
    state, uniforms = seed & 0xFFFFFFFF, []
    for _ in range(count + count % 2):
        state = (state + 0x6D2B79F5) & 0xFFFFFFFF
        t = ((state ^ (state >> 15)) * (state | 1)) & 0xFFFFFFFF
        t ^= (t + (((t ^ (t >> 7)) * (t | 61)) & 0xFFFFFFFF)) & 0xFFFFFFFF
        uniforms.append(((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296)
    u = np.array(uniforms).reshape(-1, 2)
    radius, angle = np.sqrt(-2 * np.log(1 - u[:, 0])), 2 * np.pi * u[:, 1]
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1).ravel()[:count].astype(np.float32)


def browse(url, profile):
    """The page at ``url`` as headless Chromium leaves it once its scripts are done (at most 60 s of
    the page's own time)."""
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={profile}", "--virtual-time-budget=60000", "--dump-dom", url],
                          capture_output=True, text=True, timeout=600)
    return done.stdout


@needs_browser
@pytest.mark.parametrize("changes", [dict(attention=True), dict(attention=False, image_shape=(3, 6, 5))],
                         ids=["attention", "rgb"])
def test_the_page_draws_in_chromium_what_onnxruntime_draws(tmp_path, changes):
    model = make_model(tiny_config(**changes))
    paths = demo.make_demo(model, str(tmp_path / "page"), "tiny", num=5, seed=7, seconds=0.5)
    assert sorted(os.path.basename(p) for p in paths) == sorted(
        ("index.html", "draw.js", "demo.json", "generator.onnx") + demo.ORT_FILES)
    with serving(tmp_path / "page") as (base, requests):
        page = browse(base + "/index.html", tmp_path / "profile")
    assert "<title>draw-gluon: drew 5 samples</title>" in page, page
    assert "/generator.onnx" in requests and "/ort-wasm-simd-threaded.wasm" in requests
    seed, drawn = re.search(r'data-seed="(\d+)" data-final-mean="([0-9.]+)"', page).groups()
    config = model.config
    z = mulberry32_normals(5 * config.num_steps * config.z_size, int(seed)).reshape(5, config.num_steps, config.z_size)
    canvases = ort.InferenceSession(paths[[os.path.basename(p) for p in paths].index("generator.onnx")]).run(
        ["canvases"], {"z": z})[0]
    assert seed == "7" and abs(float(drawn) - canvases[:, -1].mean()) < 1e-5


@needs_browser
def test_draw_gluon_demo_serve_prints_an_address_chromium_draws_from(tmp_path):
    make_model(tiny_config()).save(str(tmp_path / "model"))
    server = subprocess.Popen([sys.executable, "-m", "draw_gluon", "demo", str(tmp_path / "model"), "--out",
                               str(tmp_path / "page"), "--serve", "--port", "0", "--num", "3", "--seconds", "0.2"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    try:
        line = server.stdout.readline()
        url = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        assert url, line
        assert "<title>draw-gluon: drew 3 samples</title>" in browse(url.group(1), tmp_path / "profile")
    finally:
        server.terminate()
        server.wait(60)


def fake_package(folder, version="9.9.9"):
    """An npm tarball laid out as onnxruntime-web's, its files holding their own names; returns its
    path and integrity string."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in ("package.json",) + tuple(f"dist/{f}" for f in demo.ORT_FILES):
            body = (json.dumps({"name": "onnxruntime-web", "version": version}) if name == "package.json" else name).encode()
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    path = folder / f"onnxruntime-web-{version}.tgz"
    path.write_bytes(buffer.getvalue())
    return path, "sha512-" + base64.b64encode(hashlib.sha512(buffer.getvalue()).digest()).decode()


def test_without_npm_onnxruntime_web_is_downloaded_checked_and_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    registry = tmp_path / "registry"
    (registry / "onnxruntime-web" / "-").mkdir(parents=True)
    tarball, integrity = fake_package(registry / "onnxruntime-web" / "-")
    with serving(registry) as (base, requests):
        folder = demo.onnxruntime_web(str(tmp_path / "cache"), base, "9.9.9", integrity)
        assert demo.onnxruntime_web(str(tmp_path / "cache"), base, "9.9.9", integrity) == folder
    assert requests == ["/onnxruntime-web/-/onnxruntime-web-9.9.9.tgz"]  # once: then from the cache
    assert {f: open(os.path.join(folder, f)).read() for f in demo.ORT_FILES} == {f: f"dist/{f}" for f in demo.ORT_FILES}


def test_a_tarball_that_is_not_the_published_one_is_refused_and_deleted(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    registry = tmp_path / "registry"
    (registry / "onnxruntime-web" / "-").mkdir(parents=True)
    fake_package(registry / "onnxruntime-web" / "-")
    with serving(registry) as (base, _), pytest.raises(ValueError, match="is not onnxruntime-web 9.9.9 as published"):
        demo.onnxruntime_web(str(tmp_path / "cache"), base, "9.9.9", demo.ORT_INTEGRITY)
    assert os.listdir(tmp_path / "cache") == []


@pytest.mark.skipif(not shutil.which("npm"), reason="needs npm")
def test_with_npm_onnxruntime_web_comes_from_npm_pack(tmp_path, monkeypatch):
    """npm pack against a registry on 127.0.0.1: the package document, then the tarball."""
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))
    registry = tmp_path / "registry"
    (registry / "tarballs").mkdir(parents=True)
    _, integrity = fake_package(registry / "tarballs")
    with serving(registry) as (base, requests):
        version = {"name": "onnxruntime-web", "version": "9.9.9",
                   "dist": {"tarball": f"{base}/tarballs/onnxruntime-web-9.9.9.tgz", "integrity": integrity}}
        (registry / "onnxruntime-web").write_text(json.dumps(
            {"name": "onnxruntime-web", "dist-tags": {"latest": "9.9.9"}, "versions": {"9.9.9": version}}))
        folder = demo.onnxruntime_web(str(tmp_path / "cache"), base, "9.9.9", integrity)
    assert "/tarballs/onnxruntime-web-9.9.9.tgz" in requests
    assert open(os.path.join(folder, "ort.wasm.min.js")).read() == "dist/ort.wasm.min.js"


def test_no_npm_and_no_network_says_where_to_put_the_files(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("DRAW_CACHE_DIR", str(tmp_path / "cache"))
    make_model(tiny_config()).save(str(tmp_path / "model"))
    monkeypatch.setattr(demo, "REGISTRY", "http://127.0.0.1:9")  # the discard port: nothing listens
    assert cli(["demo", str(tmp_path / "model"), "--out", str(tmp_path / "page")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "npm is not installed" in err
    assert f"put onnxruntime-web-{demo.ORT_VERSION}.tgz" in err and str(tmp_path / "cache") in err, err
    assert not (tmp_path / "page").exists()


def test_a_classifier_draws_no_demo(tmp_path, capsys):
    assert cli(["demo", "cluttered-mnist", "--out", str(tmp_path / "page")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds a classifier, which draws nothing" in err
    assert not (tmp_path / "page").exists()
