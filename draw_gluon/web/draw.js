// DRAW drawing in the browser: the exported generator (generator.onnx, written by draw_gluon/export.py)
// run by onnxruntime-web; every sample's canvas is shown glimpse by glimpse, its write window outlined as
// in draw_gluon/viz.py. demo.json (written by draw_gluon/demo.py) says what the model draws.
"use strict";

ort.env.wasm.wasmPaths = "./";
ort.env.wasm.numThreads = 1;  // more threads need a cross-origin-isolated page; one draws a batch in well under a second

const WRITE_COLOUR = "rgb(255, 40, 40)";  // viz.WRITE_COLOUR

// Standard normal noise from a 32-bit seed: mulberry32 uniforms, Box-Muller pairs. Re-derived in
// tests/test_demo.py, which checks the page's drawing against onnxruntime in Python from the same noise.
function normals(count, seed) {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6D2B79F5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - uniform())), angle = 2 * Math.PI * uniform();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < count) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}

// Paint sample i's canvas after glimpse t (0: the blank canvas) onto view, with the window that wrote it.
function paint(view, spec, drawing, i, t) {
  const [C, H, W] = spec.image_shape, T = spec.num_steps, size = C * H * W, scale = spec.scale;
  const pixels = new ImageData(W, H), probs = drawing.canvases.subarray((i * (T + 1) + t) * size);
  for (let p = 0; p < H * W; p++) {
    for (let c = 0; c < 3; c++) pixels.data[4 * p + c] = Math.round(255 * probs[(C === 3 ? c * H * W : 0) + p]);
    pixels.data[4 * p + 3] = 255;
  }
  drawing.small.getContext("2d").putImageData(pixels, 0, 0);
  const ctx = view.getContext("2d");
  ctx.imageSmoothingEnabled = true;  // bilinear upscaling, as the GIFs
  ctx.drawImage(drawing.small, 0, 0, W * scale, H * scale);
  if (drawing.windows && t > 0) {  // window t-1 produced canvas t; gX, gY are 1-based (eqs 19-20)
    const [gX, gY, sigma2, delta] = drawing.windows.subarray((i * T + t - 1) * 5, (i * T + t) * 5);
    const half = spec.write_size * delta / 2 * scale;
    ctx.strokeStyle = WRITE_COLOUR;
    ctx.lineWidth = Math.min(Math.max(Math.sqrt(sigma2) * scale, 1), 2 * scale);
    ctx.strokeRect((gX - 0.5) * scale - half, (gY - 0.5) * scale - half, 2 * half, 2 * half);
  }
}

async function main() {
  const spec = await (await fetch("demo.json")).json();
  const [C, H, W] = spec.image_shape, T = spec.num_steps, n = spec.num;
  const session = await ort.InferenceSession.create("generator.onnx", {executionProviders: ["wasm"]});
  const grid = document.getElementById("samples"), status = document.getElementById("status");
  grid.style.gridTemplateColumns = `repeat(${Math.ceil(Math.sqrt(n))}, ${W * spec.scale}px)`;
  const views = Array.from({length: n}, () => {
    const view = Object.assign(document.createElement("canvas"), {width: W * spec.scale, height: H * spec.scale});
    return grid.appendChild(view);
  });
  document.getElementById("about").textContent =
    `${spec.name}: ${T} glimpses on ${H}x${W}${C === 3 ? " colour" : ""} images` +
    (spec.attention ? `, writing ${spec.write_size}x${spec.write_size} patches` : ", writing the whole image");
  let drawing = null, batch = 0, playing = 0;

  async function play() {
    const mine = ++playing;  // a newer replay or batch stops this one
    for (let t = 0; t <= T && mine === playing; t++) {
      views.forEach((view, i) => paint(view, spec, drawing, i, t));
      status.textContent = `batch ${drawing.batch}, glimpse ${t} of ${T}`;
      await new Promise(done => setTimeout(done, 1000 * spec.seconds / (T + 1)));
    }
    return mine === playing;
  }

  async function sample() {
    const seed = spec.seed + batch;
    const z = new ort.Tensor("float32", normals(n * T * spec.z_size, seed), [n, T, spec.z_size]);
    const out = await session.run({z});
    drawing = {canvases: out.canvases.data, windows: out.write_windows ? out.write_windows.data : null,
               small: Object.assign(document.createElement("canvas"), {width: W, height: H}), batch: batch++};
    const finished = await play();
    if (finished) {
      let total = 0;  // the mean of the finished canvases, for tests/test_demo.py
      for (let i = 0; i < n; i++) for (const p of drawing.canvases.subarray((i * (T + 1) + T) * C * H * W, (i * (T + 1) + T + 1) * C * H * W)) total += p;
      document.body.dataset.seed = seed;
      document.body.dataset.finalMean = (total / (n * C * H * W)).toFixed(6);
      document.title = `draw-gluon: drew ${n} samples`;
    }
  }

  document.getElementById("new").onclick = sample;
  document.getElementById("replay").onclick = play;
  document.getElementById("new").disabled = document.getElementById("replay").disabled = false;
  await sample();
}

main().catch(err => {
  document.getElementById("about").textContent = `Could not draw: ${err}`;
  document.title = "draw-gluon: error";
});
