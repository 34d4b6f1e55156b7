// Fused CPU kernels for DRAW, registered with MXNet's extension library API (lib_api.h, MXNet 1.9).
// Built and loaded by draw_gluon/fused.py; draw_gluon/model.py's lstm_step holds the reference.
//
// draw_lstm_pointwise(gates (B, 4n), c_prev (B, n)) -> h (B, n), c (B, n), saved (B, 5n)
//   The element-wise half of an LSTM step, Gluon's gate order (i, f, g, o):
//   c = sigmoid(f) c_prev + sigmoid(i) tanh(g),  h = sigmoid(o) tanh(c).
//   `saved` holds the activated gates and tanh(c) for the backward pass, which then needs no
//   transcendental function; its own gradient is ignored.
//
// draw_filterbank(g (B, 1), sigma2 (B, 1), delta (B, 1); N, size) -> F (B, N, size)
//   One axis of the attention window's filterbank (eqs 19-20, 25-26): row i is a Gaussian over the
//   pixels a = 1..size centred at mu_i = g + (i - N/2 - 1/2) delta, variance sigma2, normalised to
//   sum 1 (a softmax over a, so it stays finite when a filter falls off the image).
// draw_filter(images (B, C*H*W), F_X (B, N, W), F_Y (B, N, H); channels=C) -> (B, C*N*N)
//   The read's product F_Y I F_X^T for each channel (eq 27 without gamma), in place of two batch_dots,
//   three transposes and their reshapes.
// draw_unfilter(patch (B, C*N*N), F_X (B, N, W), F_Y (B, N, H); channels=C) -> (B, C*H*W)
//   The write's product F_Y^T w F_X for each channel (eq 29 without 1/gamma). Each is the other's
//   adjoint: the gradient of the image through draw_filter is draw_unfilter of the glimpse's, and back.
//
// draw_normal(like) -> standard normal draws of like's shape and type, from MXNet's seeded CPU random
//   states (mx.random.seed); not differentiable. Sampling's noise z: MXNet's own sampler took 20% of
//   generate()'s time at one thread.
#include <algorithm>
#include <cmath>
#include <vector>
#include <cstdint>

#include "mxnet/lib_api.h"

using namespace mxnet::ext;

namespace {

using Attrs = std::unordered_map<std::string, std::string>;

// Split the batch over MXNet's OpenMP threads (OMP_NUM_THREADS; the same libgomp as MXNet's) only
// when each thread gets enough elements to outweigh starting them (a few microseconds).
inline bool worth_threads(int64_t elements) { return elements >= (int64_t(1) << 14); }

// -ffast-math assumes no infinities, so exp must not overflow (in float above 88): 1 / (1 + inf)
// came out as NaN for pre-activations beyond ~45. Clamped where the result is already 0 or 1 in
// float (sigmoid(-80) ~ 1.8e-35, tanh(40) = 1).
template <typename T>
inline T clamp(T x, T bound) { return x < -bound ? -bound : (x > bound ? bound : x); }

template <typename T>
inline T sigmoid(T x) { return T(1) / (T(1) + std::exp(-clamp(x, T(80)))); }

template <typename T>
inline T tanh_(T x) { return T(1) - T(2) / (T(1) + std::exp(T(2) * clamp(x, T(40)))); }

template <typename T>
void lstm_forward(const T* a, const T* c_prev, T* h, T* c, T* saved, int64_t B, int64_t n) {
#pragma omp parallel for if (worth_threads(B * n))
  for (int64_t b = 0; b < B; ++b) {
    const T* row = a + b * 4 * n;
    T* s = saved + b * 5 * n;
    const T* cp = c_prev + b * n;
    T* cb = c + b * n;
    T* hb = h + b * n;
    // Separate simple loops, so that the compiler vectorises each (exp included, with -ffast-math).
    for (int64_t j = 0; j < 2 * n; ++j) s[j] = sigmoid(row[j]);
    for (int64_t j = 2 * n; j < 3 * n; ++j) s[j] = tanh_(row[j]);
    for (int64_t j = 3 * n; j < 4 * n; ++j) s[j] = sigmoid(row[j]);
    for (int64_t j = 0; j < n; ++j) cb[j] = s[n + j] * cp[j] + s[j] * s[2 * n + j];
    for (int64_t j = 0; j < n; ++j) s[4 * n + j] = tanh_(cb[j]);
    for (int64_t j = 0; j < n; ++j) hb[j] = s[3 * n + j] * s[4 * n + j];
  }
}

template <typename T>
void lstm_backward(const T* dh, const T* dc, const T* c_prev, const T* saved, T* da, T* dc_prev,
                   int64_t B, int64_t n) {
#pragma omp parallel for if (worth_threads(B * n))
  for (int64_t b = 0; b < B; ++b) {
    const T* s = saved + b * 5 * n;
    T* d = da + b * 4 * n;
    const int64_t r = b * n;
    for (int64_t j = 0; j < n; ++j) {
      const T i = s[j], f = s[n + j], g = s[2 * n + j], o = s[3 * n + j], tc = s[4 * n + j];
      const T dct = dc[r + j] + dh[r + j] * o * (T(1) - tc * tc);
      d[j] = dct * g * i * (T(1) - i);
      d[n + j] = dct * c_prev[r + j] * f * (T(1) - f);
      d[2 * n + j] = dct * i * (T(1) - g * g);
      d[3 * n + j] = dh[r + j] * tc * o * (T(1) - o);
      dc_prev[r + j] = dct * f;
    }
  }
}

template <typename T>
inline T offset(int64_t i, int64_t N) { return T(i + 1) - T(N) / T(2) - T(0.5); }

template <typename T>
void filterbank_forward(const T* g, const T* sigma2, const T* delta, T* F, int64_t B, int64_t N,
                        int64_t size) {
#pragma omp parallel for if (worth_threads(B * N * size))
  for (int64_t b = 0; b < B; ++b) {
    const T scale = T(-0.5) / sigma2[b];
    for (int64_t i = 0; i < N; ++i) {
      T* row = F + (b * N + i) * size;
      const T mu = g[b] + offset<T>(i, N) * delta[b];
      for (int64_t a = 0; a < size; ++a) {
        const T d = T(a + 1) - mu;
        row[a] = scale * d * d;
      }
      T peak = row[0];  // not -INFINITY: -ffast-math assumes there are no infinities
      for (int64_t a = 1; a < size; ++a) peak = row[a] > peak ? row[a] : peak;
      T total = 0;
      for (int64_t a = 0; a < size; ++a) total += (row[a] = std::exp(row[a] - peak));
      for (int64_t a = 0; a < size; ++a) row[a] /= total;
    }
  }
}

// Through the softmax, de = F (dF - sum_a dF F); then e = -d^2 / (2 sigma2) with d = a - mu_i gives
// de/dg = d / sigma2, de/ddelta = offset_i d / sigma2, de/dsigma2 = d^2 / (2 sigma2^2).
template <typename T>
void filterbank_backward(const T* dF, const T* g, const T* sigma2, const T* delta, const T* F, T* dg,
                         T* dsigma2, T* ddelta, int64_t B, int64_t N, int64_t size) {
#pragma omp parallel for if (worth_threads(B * N * size))
  for (int64_t b = 0; b < B; ++b) {
    const T inv = T(1) / sigma2[b];
    T sum_g = 0, sum_delta = 0, sum_sigma2 = 0;
    for (int64_t i = 0; i < N; ++i) {
      const T* f = F + (b * N + i) * size;
      const T* df = dF + (b * N + i) * size;
      const T mu = g[b] + offset<T>(i, N) * delta[b];
      T dot = 0;
      for (int64_t a = 0; a < size; ++a) dot += df[a] * f[a];
      T row_g = 0, row_sigma2 = 0;
      for (int64_t a = 0; a < size; ++a) {
        const T de = f[a] * (df[a] - dot), d = T(a + 1) - mu;
        row_g += de * d;
        row_sigma2 += de * d * d;
      }
      sum_g += row_g;
      sum_delta += offset<T>(i, N) * row_g;
      sum_sigma2 += row_sigma2;
    }
    dg[b] = sum_g * inv;
    ddelta[b] = sum_delta * inv;
    dsigma2[b] = sum_sigma2 * T(0.5) * inv * inv;
  }
}

// One image of the batch, loops ordered so that the innermost runs along contiguous rows (vectorised).
// t[q,y] = sum_x I[y,x] F_X[q,x] for one channel I (H, W).
template <typename T>
inline void image_times_FX(const T* img, const T* FX, T* t, int64_t H, int64_t W, int64_t N) {
  for (int64_t q = 0; q < N; ++q)
    for (int64_t y = 0; y < H; ++y) {
      T sum = 0;
      for (int64_t x = 0; x < W; ++x) sum += img[y * W + x] * FX[q * W + x];
      t[q * H + y] = sum;
    }
}

// G[p,q] = sum_y F_Y[p,y] t[q,y] for one channel, from t = I F_X^T.
template <typename T>
inline void FY_times_t(const T* FY, const T* t, T* G, int64_t H, int64_t N) {
  for (int64_t p = 0; p < N; ++p)
    for (int64_t q = 0; q < N; ++q) {
      T sum = 0;
      for (int64_t y = 0; y < H; ++y) sum += FY[p * H + y] * t[q * H + y];
      G[p * N + q] = sum;
    }
}

// filter: G[c] = F_Y I[c] F_X^T per channel (t: N*H).
template <typename T>
void filter_one(const T* I, const T* FX, const T* FY, T* G, int64_t C, int64_t H, int64_t W, int64_t N,
                T* t) {
  for (int64_t c = 0; c < C; ++c) {
    image_times_FX(I + c * H * W, FX, t, H, W, N);
    FY_times_t(FY, t, G + c * N * N, H, N);
  }
}

// unfilter: O[c,y,x] = sum_p F_Y[p,y] s[p,x] with s[p,x] = sum_q P[c,p,q] F_X[q,x] (s: N*W).
template <typename T>
void unfilter_one(const T* P, const T* FX, const T* FY, T* O, int64_t C, int64_t H, int64_t W, int64_t N,
                  T* s) {
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t p = 0; p < N; ++p) {
      T* row = s + p * W;
      for (int64_t x = 0; x < W; ++x) row[x] = 0;
      for (int64_t q = 0; q < N; ++q) {
        const T a = P[(c * N + p) * N + q];
        for (int64_t x = 0; x < W; ++x) row[x] += a * FX[q * W + x];
      }
    }
    T* out = O + c * H * W;
    for (int64_t y = 0; y < H; ++y) {
      T* row = out + y * W;
      for (int64_t x = 0; x < W; ++x) row[x] = 0;
      for (int64_t p = 0; p < N; ++p) {
        const T a = FY[p * H + y];
        for (int64_t x = 0; x < W; ++x) row[x] += a * s[p * W + x];
      }
    }
  }
}

// Gradients of the filters of either product, from the image side I (C, H, W) and the patch side
// P (C, N, N) of G = F_Y I F_X^T: dF_Y[p,y] = sum_c,q P[c,p,q] (I F_X^T)[c,y,q] and
// dF_X[q,x] = sum_c,y (F_Y^T P)[c,y,q] I[c,y,x]. For the read, I is the image and P the glimpse's
// gradient; for the write, I is the output's gradient and P the patch. With G, also the product
// F_Y I F_X^T (the write's patch gradient) from the same I F_X^T. t: 2*N*H.
template <typename T>
void filter_grads(const T* I, const T* P, const T* FX, const T* FY, T* dFX, T* dFY, T* G, int64_t C,
                  int64_t H, int64_t W, int64_t N, T* t) {
  T* u = t + N * H;
  for (int64_t k = 0; k < N * W; ++k) dFX[k] = 0;
  for (int64_t k = 0; k < N * H; ++k) dFY[k] = 0;
  for (int64_t c = 0; c < C; ++c) {
    const T* img = I + c * H * W;
    const T* patch = P + c * N * N;
    image_times_FX(img, FX, t, H, W, N);
    if (G) FY_times_t(FY, t, G + c * N * N, H, N);
    for (int64_t p = 0; p < N; ++p)
      for (int64_t q = 0; q < N; ++q) {
        const T a = patch[p * N + q];
        for (int64_t y = 0; y < H; ++y) dFY[p * H + y] += a * t[q * H + y];
      }
    for (int64_t k = 0; k < N * H; ++k) u[k] = 0;
    for (int64_t q = 0; q < N; ++q)
      for (int64_t p = 0; p < N; ++p) {
        const T a = patch[p * N + q];
        for (int64_t y = 0; y < H; ++y) u[q * H + y] += a * FY[p * H + y];
      }
    for (int64_t q = 0; q < N; ++q)
      for (int64_t y = 0; y < H; ++y) {
        const T a = u[q * H + y];
        for (int64_t x = 0; x < W; ++x) dFX[q * W + x] += a * img[y * W + x];
      }
  }
}

// A uniform draw in (0, 1) from 24 (float) or 32 (double) random bits, never 0 so its log is finite.
inline float open_uniform(float, uint32_t bits) { return (float(bits >> 8) + 0.5f) * (1.0f / 16777216.0f); }
inline double open_uniform(double, uint32_t bits) { return (double(bits) + 0.5) * (1.0 / 4294967296.0); }

// Box-Muller in blocks: the generator's bits one at a time, then the transcendental functions over a
// whole block in simple loops that the compiler vectorises. The array is cut into up to
// MX_NUM_CPU_RANDOM_STATES contiguous parts, part p drawn from state p, so the draws do not depend
// on the number of threads.
template <typename T>
void normal_fill(mx_cpu_rand_t* states, T* out, int64_t n) {
  const int64_t block = 1024, parts = std::min<int64_t>((n + 65535) / 65536, MX_NUM_CPU_RANDOM_STATES);
  const int64_t per_part = parts ? (n + parts - 1) / parts : 0;
#pragma omp parallel for if (parts > 1)
  for (int64_t p = 0; p < parts; ++p) {
    mx_cpu_rand_t& rng = states[p];
    T radius[block], angle[block];
    const int64_t end = std::min(n, (p + 1) * per_part);
    for (int64_t at = p * per_part; at < end; at += 2 * block) {
      const int64_t pairs = std::min(block, (end - at + 1) / 2), odd = (end - at) < 2 * pairs;
      for (int64_t i = 0; i < pairs; ++i) {
        radius[i] = open_uniform(T(0), static_cast<uint32_t>(rng()));
        angle[i] = open_uniform(T(0), static_cast<uint32_t>(rng()));
      }
      for (int64_t i = 0; i < pairs; ++i) {
        radius[i] = std::sqrt(T(-2) * std::log(radius[i]));
        angle[i] *= T(6.283185307179586);
      }
      T* z = out + at;
      for (int64_t i = 0; i < pairs; ++i) z[i] = radius[i] * std::cos(angle[i]);
      for (int64_t i = 0; i < pairs - odd; ++i) z[pairs + i] = radius[i] * std::sin(angle[i]);
    }
  }
}

struct Dims {
  int64_t B, C, H, W, N;
};

// From F_X (B, N, W), F_Y (B, N, H) and the `channels` attribute: B, C, H, W, N.
Dims dims_of(const MXTensor& FX, const MXTensor& FY, int64_t channels) {
  return {FX.shape[0], channels, FY.shape[2], FX.shape[2], FX.shape[1]};
}

// The forward of either op: the read's product of images, or the write's of patches.
template <typename T>
void product_forward(bool read, const T* x, const T* FX, const T* FY, T* out, Dims d) {
  const int64_t image = d.C * d.H * d.W, patch = d.C * d.N * d.N;
#pragma omp parallel for if (worth_threads(d.B * image))
  for (int64_t b = 0; b < d.B; ++b) {
    std::vector<T> t(d.N * (d.H > d.W ? d.H : d.W));  // filter_one's t or unfilter_one's s
    const T* fx = FX + b * d.N * d.W;
    const T* fy = FY + b * d.N * d.H;
    if (read)
      filter_one(x + b * image, fx, fy, out + b * patch, d.C, d.H, d.W, d.N, t.data());
    else
      unfilter_one(x + b * patch, fx, fy, out + b * image, d.C, d.H, d.W, d.N, t.data());
  }
}

// The backward of either op: the gradient of its image side through the other product, then the
// filters' gradients. `image` and `patch` are the image-side and patch-side arrays of the product.
template <typename T>
void product_backward(bool read, const T* image, const T* patch, const T* FX, const T* FY, T* d_other,
                      T* dFX, T* dFY, Dims d) {
#pragma omp parallel for if (worth_threads(d.B * d.C * d.H * d.W))
  for (int64_t b = 0; b < d.B; ++b) {
    std::vector<T> t(d.N * (2 * d.H > d.W ? 2 * d.H : d.W));  // unfilter_one's s, filter_grads' t
    const T* img = image + b * d.C * d.H * d.W;
    const T* pat = patch + b * d.C * d.N * d.N;
    const T* fx = FX + b * d.N * d.W;
    const T* fy = FY + b * d.N * d.H;
    if (read) unfilter_one(pat, fx, fy, d_other + b * d.C * d.H * d.W, d.C, d.H, d.W, d.N, t.data());
    filter_grads(img, pat, fx, fy, dFX + b * d.N * d.W, dFY + b * d.N * d.H,
                 read ? nullptr : d_other + b * d.C * d.N * d.N, d.C, d.H, d.W, d.N, t.data());
  }
}

bool same_float_type(const std::vector<int>& types) {
  for (int t : types) {
    if (t != types[0]) return false;
  }
  return types[0] == kFloat32 || types[0] == kFloat64;
}

MXReturnValue lstm_parse(const Attrs&, int* num_in, int* num_out) {
  *num_in = 2;
  *num_out = 3;
  return MX_SUCCESS;
}

MXReturnValue lstm_type(const Attrs&, std::vector<int>* in,
                        std::vector<int>* out) {
  if (!same_float_type(*in)) {
    MX_ERROR_MSG << "draw_lstm_pointwise takes float32 or float64 gates and cell of one type";
    return MX_FAIL;
  }
  for (auto& o : *out) o = in->at(0);
  return MX_SUCCESS;
}

MXReturnValue lstm_shape(const Attrs&,
                         std::vector<std::vector<unsigned int>>* in,
                         std::vector<std::vector<unsigned int>>* out) {
  const auto& gates = in->at(0);
  const auto& c = in->at(1);
  if (gates.size() != 2 || c.size() != 2 || gates[0] != c[0] || gates[1] != 4 * c[1]) {
    MX_ERROR_MSG << "draw_lstm_pointwise needs gates (B, 4n) and a cell (B, n)";
    return MX_FAIL;
  }
  out->at(0) = c;
  out->at(1) = c;
  out->at(2) = {c[0], 5 * c[1]};
  return MX_SUCCESS;
}

template <typename T>
void lstm_forward_typed(const Attrs&, std::vector<MXTensor>* in, std::vector<MXTensor>* out) {
  lstm_forward(in->at(0).data<T>(), in->at(1).data<T>(), out->at(0).data<T>(), out->at(1).data<T>(),
               out->at(2).data<T>(), in->at(1).shape[0], in->at(1).shape[1]);
}

// Inputs: the outputs' gradients (dh, dc, dsaved), the inputs (gates, c_prev), the outputs (h, c, saved).
template <typename T>
void lstm_backward_typed(const Attrs&, std::vector<MXTensor>* in, std::vector<MXTensor>* out) {
  lstm_backward(in->at(0).data<T>(), in->at(1).data<T>(), in->at(4).data<T>(), in->at(7).data<T>(),
                out->at(0).data<T>(), out->at(1).data<T>(), in->at(4).shape[0], in->at(4).shape[1]);
}

using Typed = void (*)(const Attrs&, std::vector<MXTensor>*, std::vector<MXTensor>*);

// A forward or backward function as MXNet calls it: the kernel instantiated for the inputs' type.
template <Typed as_float, Typed as_double>
MXReturnValue on_cpu(const Attrs& attrs, std::vector<MXTensor>* in, std::vector<MXTensor>* out,
                     const OpResource&) {
  (in->at(0).dtype == kFloat64 ? as_double : as_float)(attrs, in, out);
  return MX_SUCCESS;
}

int64_t attr(const Attrs& attrs, const char* name) {
  auto found = attrs.find(name);
  return found == attrs.end() ? 0 : std::stoll(found->second);
}

// The filterbank and both products: three inputs, one output of their (float) type, and integer
// attributes that must be positive.
MXReturnValue three_to_one(bool attrs_ok, const char* complaint, int* num_in, int* num_out) {
  if (!attrs_ok) {
    MX_ERROR_MSG << complaint;
    return MX_FAIL;
  }
  *num_in = 3;
  *num_out = 1;
  return MX_SUCCESS;
}

MXReturnValue filterbank_parse(const Attrs& attrs, int* num_in,
                               int* num_out) {
  return three_to_one(attr(attrs, "N") >= 1 && attr(attrs, "size") >= 1,
                      "draw_filterbank needs positive integer attributes N and size", num_in, num_out);
}

MXReturnValue one_float_type(const Attrs&, std::vector<int>* in,
                             std::vector<int>* out) {
  if (!same_float_type(*in)) {
    MX_ERROR_MSG << "draw_filterbank, draw_filter, draw_unfilter and draw_normal take float32 or "
                    "float64 inputs of one type";
    return MX_FAIL;
  }
  out->at(0) = in->at(0);
  return MX_SUCCESS;
}

MXReturnValue filterbank_shape(const Attrs& attrs,
                               std::vector<std::vector<unsigned int>>* in,
                               std::vector<std::vector<unsigned int>>* out) {
  for (const auto& s : *in) {
    if (s.size() != 2 || s[1] != 1 || s[0] != in->at(0)[0]) {
      MX_ERROR_MSG << "draw_filterbank needs g, sigma2 and delta of shape (B, 1)";
      return MX_FAIL;
    }
  }
  out->at(0) = {in->at(0)[0], static_cast<unsigned int>(attr(attrs, "N")),
                static_cast<unsigned int>(attr(attrs, "size"))};
  return MX_SUCCESS;
}

template <typename T>
void filterbank_forward_typed(const Attrs&, std::vector<MXTensor>* in, std::vector<MXTensor>* out) {
  const auto& shape = out->at(0).shape;
  filterbank_forward(in->at(0).data<T>(), in->at(1).data<T>(), in->at(2).data<T>(), out->at(0).data<T>(),
                     shape[0], shape[1], shape[2]);
}

// Inputs: dF, then g, sigma2, delta, then F; outputs dg, dsigma2, ddelta.
template <typename T>
void filterbank_backward_typed(const Attrs&, std::vector<MXTensor>* in, std::vector<MXTensor>* out) {
  const auto& shape = in->at(0).shape;
  filterbank_backward(in->at(0).data<T>(), in->at(1).data<T>(), in->at(2).data<T>(), in->at(3).data<T>(),
                      in->at(4).data<T>(), out->at(0).data<T>(), out->at(1).data<T>(), out->at(2).data<T>(),
                      shape[0], shape[1], shape[2]);
}

MXReturnValue product_parse(const Attrs& attrs, int* num_in,
                            int* num_out) {
  return three_to_one(attr(attrs, "channels") >= 1,
                      "draw_filter and draw_unfilter need a positive integer attribute channels", num_in, num_out);
}

// read: (B, C*H*W) -> (B, C*N*N); write: (B, C*N*N) -> (B, C*H*W).
template <bool read>
MXReturnValue product_shape(const Attrs& attrs,
                            std::vector<std::vector<unsigned int>>* in,
                            std::vector<std::vector<unsigned int>>* out) {
  const auto &x = in->at(0), &fx = in->at(1), &fy = in->at(2);
  const unsigned int C = attr(attrs, "channels");
  if (x.size() != 2 || fx.size() != 3 || fy.size() != 3 || fx[0] != x[0] || fy[0] != x[0] || fx[1] != fy[1] ||
      x[1] != C * (read ? fy[2] * fx[2] : fx[1] * fx[1])) {
    MX_ERROR_MSG << (read ? "draw_filter needs images (B, C*H*W)" : "draw_unfilter needs a patch (B, C*N*N)")
                 << ", F_X (B, N, W) and F_Y (B, N, H)";
    return MX_FAIL;
  }
  out->at(0) = {x[0], C * (read ? fx[1] * fx[1] : fy[2] * fx[2])};
  return MX_SUCCESS;
}

template <typename T, bool read>
void product_forward_typed(const Attrs& attrs, std::vector<MXTensor>* in, std::vector<MXTensor>* out) {
  product_forward(read, in->at(0).data<T>(), in->at(1).data<T>(), in->at(2).data<T>(), out->at(0).data<T>(),
                  dims_of(in->at(1), in->at(2), attr(attrs, "channels")));
}

// Inputs: the output's gradient, then x, F_X, F_Y, then the output; outputs dx, dF_X, dF_Y.
template <typename T, bool read>
void product_backward_typed(const Attrs& attrs, std::vector<MXTensor>* in, std::vector<MXTensor>* out) {
  const T *grad = in->at(0).data<T>(), *x = in->at(1).data<T>();
  product_backward(read, read ? x : grad, read ? grad : x, in->at(2).data<T>(), in->at(3).data<T>(),
                   out->at(0).data<T>(), out->at(1).data<T>(), out->at(2).data<T>(),
                   dims_of(in->at(2), in->at(3), attr(attrs, "channels")));
}

int64_t elements(const MXTensor& x) {
  int64_t n = 1;
  for (auto extent : x.shape) n *= extent;
  return n;
}

MXReturnValue one_to_one(const Attrs&, int* num_in, int* num_out) {
  *num_in = 1;
  *num_out = 1;
  return MX_SUCCESS;
}

MXReturnValue same_shape(const Attrs&, std::vector<std::vector<unsigned int>>* in,
                         std::vector<std::vector<unsigned int>>* out) {
  out->at(0) = in->at(0);
  return MX_SUCCESS;
}

MXReturnValue normal_forward(const Attrs&, std::vector<MXTensor>* in, std::vector<MXTensor>* out,
                             const OpResource& res) {
  MXTensor& z = out->at(0);
  if (z.dtype == kFloat64)
    normal_fill(res.get_cpu_rand_states(), z.data<double>(), elements(z));
  else
    normal_fill(res.get_cpu_rand_states(), z.data<float>(), elements(z));
  return MX_SUCCESS;
}

}  // namespace

REGISTER_OP(draw_normal)
.setParseAttrs(one_to_one)
.setInferType(one_float_type)
.setInferShape(same_shape)
.setForward(normal_forward, "cpu");

REGISTER_OP(draw_filter)
.setParseAttrs(product_parse)
.setInferType(one_float_type)
.setInferShape(product_shape<true>)
.setForward(on_cpu<product_forward_typed<float, true>, product_forward_typed<double, true>>, "cpu")
.setBackward(on_cpu<product_backward_typed<float, true>, product_backward_typed<double, true>>, "cpu");

REGISTER_OP(draw_unfilter)
.setParseAttrs(product_parse)
.setInferType(one_float_type)
.setInferShape(product_shape<false>)
.setForward(on_cpu<product_forward_typed<float, false>, product_forward_typed<double, false>>,
             "cpu")
.setBackward(on_cpu<product_backward_typed<float, false>, product_backward_typed<double, false>>,
             "cpu");

REGISTER_OP(draw_filterbank)
.setParseAttrs(filterbank_parse)
.setInferType(one_float_type)
.setInferShape(filterbank_shape)
.setForward(on_cpu<filterbank_forward_typed<float>, filterbank_forward_typed<double>>, "cpu")
.setBackward(on_cpu<filterbank_backward_typed<float>, filterbank_backward_typed<double>>, "cpu");

REGISTER_OP(draw_lstm_pointwise)
.setParseAttrs(lstm_parse)
.setInferType(lstm_type)
.setInferShape(lstm_shape)
.setForward(on_cpu<lstm_forward_typed<float>, lstm_forward_typed<double>>, "cpu")
.setBackward(on_cpu<lstm_backward_typed<float>, lstm_backward_typed<double>>, "cpu");

MXReturnValue initialize(int version) {
  return version >= 10900 ? MX_SUCCESS : MX_FAIL;
}
