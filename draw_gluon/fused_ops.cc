// Fused CPU kernels for DRAW, registered with MXNet's extension library API (lib_api.h, MXNet 1.9).
// Built and loaded by draw_gluon/fused.py; draw_gluon/model.py's lstm_step holds the reference.
//
// draw_lstm_pointwise(gates (B, 4n), c_prev (B, n)) -> h (B, n), c (B, n), saved (B, 5n)
//   The element-wise half of an LSTM step, Gluon's gate order (i, f, g, o):
//   c = sigmoid(f) c_prev + sigmoid(i) tanh(g),  h = sigmoid(o) tanh(c).
//   `saved` holds the activated gates and tanh(c) for the backward pass, which then needs no
//   transcendental function; its own gradient is ignored.
#include <cmath>
#include <cstdint>

#include "mxnet/lib_api.h"

using namespace mxnet::ext;

namespace {

template <typename T>
inline T sigmoid(T x) { return T(1) / (T(1) + std::exp(-x)); }

template <typename T>
inline T tanh_(T x) { return T(1) - T(2) / (T(1) + std::exp(T(2) * x)); }

template <typename T>
void lstm_forward(const T* a, const T* c_prev, T* h, T* c, T* saved, int64_t B, int64_t n) {
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

MXReturnValue lstm_parse(const std::unordered_map<std::string, std::string>&, int* num_in, int* num_out) {
  *num_in = 2;
  *num_out = 3;
  return MX_SUCCESS;
}

MXReturnValue lstm_type(const std::unordered_map<std::string, std::string>&, std::vector<int>* in,
                        std::vector<int>* out) {
  const int t = in->at(0);
  if ((t != kFloat32 && t != kFloat64) || in->at(1) != t) {
    MX_ERROR_MSG << "draw_lstm_pointwise takes float32 or float64 gates and cell of one type";
    return MX_FAIL;
  }
  for (auto& o : *out) o = t;
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

MXReturnValue lstm_forward_cpu(const std::unordered_map<std::string, std::string>&, std::vector<MXTensor>* in,
                               std::vector<MXTensor>* out, const OpResource&) {
  const int64_t B = in->at(1).shape[0], n = in->at(1).shape[1];
  if (in->at(0).dtype == kFloat64) {
    lstm_forward(in->at(0).data<double>(), in->at(1).data<double>(), out->at(0).data<double>(),
                 out->at(1).data<double>(), out->at(2).data<double>(), B, n);
  } else {
    lstm_forward(in->at(0).data<float>(), in->at(1).data<float>(), out->at(0).data<float>(),
                 out->at(1).data<float>(), out->at(2).data<float>(), B, n);
  }
  return MX_SUCCESS;
}

// Inputs: the outputs' gradients (dh, dc, dsaved), the inputs (gates, c_prev), the outputs (h, c, saved).
MXReturnValue lstm_backward_cpu(const std::unordered_map<std::string, std::string>&, std::vector<MXTensor>* in,
                                std::vector<MXTensor>* out, const OpResource&) {
  const int64_t B = in->at(4).shape[0], n = in->at(4).shape[1];
  if (in->at(0).dtype == kFloat64) {
    lstm_backward(in->at(0).data<double>(), in->at(1).data<double>(), in->at(4).data<double>(),
                  in->at(7).data<double>(), out->at(0).data<double>(), out->at(1).data<double>(), B, n);
  } else {
    lstm_backward(in->at(0).data<float>(), in->at(1).data<float>(), in->at(4).data<float>(),
                  in->at(7).data<float>(), out->at(0).data<float>(), out->at(1).data<float>(), B, n);
  }
  return MX_SUCCESS;
}

}  // namespace

REGISTER_OP(draw_lstm_pointwise)
.setParseAttrs(lstm_parse)
.setInferType(lstm_type)
.setInferShape(lstm_shape)
.setForward(lstm_forward_cpu, "cpu")
.setBackward(lstm_backward_cpu, "cpu");

MXReturnValue initialize(int version) {
  return version >= 10900 ? MX_SUCCESS : MX_FAIL;
}
