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
#include <cmath>
#include <cstdint>

#include "mxnet/lib_api.h"

using namespace mxnet::ext;

namespace {

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

bool same_float_type(const std::vector<int>& types) {
  for (int t : types) {
    if (t != types[0]) return false;
  }
  return types[0] == kFloat32 || types[0] == kFloat64;
}

MXReturnValue lstm_parse(const std::unordered_map<std::string, std::string>&, int* num_in, int* num_out) {
  *num_in = 2;
  *num_out = 3;
  return MX_SUCCESS;
}

MXReturnValue lstm_type(const std::unordered_map<std::string, std::string>&, std::vector<int>* in,
                        std::vector<int>* out) {
  if (!same_float_type(*in)) {
    MX_ERROR_MSG << "draw_lstm_pointwise takes float32 or float64 gates and cell of one type";
    return MX_FAIL;
  }
  for (auto& o : *out) o = in->at(0);
  return MX_SUCCESS;
}

MXReturnValue lstm_shape(const std::unordered_map<std::string, std::string>&,
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
void lstm_forward_typed(std::vector<MXTensor>* in, std::vector<MXTensor>* out) {
  lstm_forward(in->at(0).data<T>(), in->at(1).data<T>(), out->at(0).data<T>(), out->at(1).data<T>(),
               out->at(2).data<T>(), in->at(1).shape[0], in->at(1).shape[1]);
}

// Inputs: the outputs' gradients (dh, dc, dsaved), the inputs (gates, c_prev), the outputs (h, c, saved).
template <typename T>
void lstm_backward_typed(std::vector<MXTensor>* in, std::vector<MXTensor>* out) {
  lstm_backward(in->at(0).data<T>(), in->at(1).data<T>(), in->at(4).data<T>(), in->at(7).data<T>(),
                out->at(0).data<T>(), out->at(1).data<T>(), in->at(4).shape[0], in->at(4).shape[1]);
}

using Typed = void (*)(std::vector<MXTensor>*, std::vector<MXTensor>*);

// A forward or backward function as MXNet calls it: the kernel instantiated for the inputs' type.
template <Typed as_float, Typed as_double>
MXReturnValue on_cpu(const std::unordered_map<std::string, std::string>&, std::vector<MXTensor>* in,
                     std::vector<MXTensor>* out, const OpResource&) {
  (in->at(0).dtype == kFloat64 ? as_double : as_float)(in, out);
  return MX_SUCCESS;
}

int64_t attr(const std::unordered_map<std::string, std::string>& attrs, const char* name) {
  auto found = attrs.find(name);
  return found == attrs.end() ? 0 : std::stoll(found->second);
}

MXReturnValue filterbank_parse(const std::unordered_map<std::string, std::string>& attrs, int* num_in,
                               int* num_out) {
  if (attr(attrs, "N") < 1 || attr(attrs, "size") < 1) {
    MX_ERROR_MSG << "draw_filterbank needs positive integer attributes N and size";
    return MX_FAIL;
  }
  *num_in = 3;
  *num_out = 1;
  return MX_SUCCESS;
}

MXReturnValue filterbank_type(const std::unordered_map<std::string, std::string>&, std::vector<int>* in,
                              std::vector<int>* out) {
  if (!same_float_type(*in)) {
    MX_ERROR_MSG << "draw_filterbank takes float32 or float64 g, sigma2 and delta of one type";
    return MX_FAIL;
  }
  out->at(0) = in->at(0);
  return MX_SUCCESS;
}

MXReturnValue filterbank_shape(const std::unordered_map<std::string, std::string>& attrs,
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
void filterbank_forward_typed(std::vector<MXTensor>* in, std::vector<MXTensor>* out) {
  const auto& shape = out->at(0).shape;
  filterbank_forward(in->at(0).data<T>(), in->at(1).data<T>(), in->at(2).data<T>(), out->at(0).data<T>(),
                     shape[0], shape[1], shape[2]);
}

// Inputs: dF, then g, sigma2, delta, then F; outputs dg, dsigma2, ddelta.
template <typename T>
void filterbank_backward_typed(std::vector<MXTensor>* in, std::vector<MXTensor>* out) {
  const auto& shape = in->at(0).shape;
  filterbank_backward(in->at(0).data<T>(), in->at(1).data<T>(), in->at(2).data<T>(), in->at(3).data<T>(),
                      in->at(4).data<T>(), out->at(0).data<T>(), out->at(1).data<T>(), out->at(2).data<T>(),
                      shape[0], shape[1], shape[2]);
}

}  // namespace

REGISTER_OP(draw_filterbank)
.setParseAttrs(filterbank_parse)
.setInferType(filterbank_type)
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
