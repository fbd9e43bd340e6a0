#include "oryx/mixers/recurrence.h"

#include "oryx/common/error.h"
#include "oryx/common/shape.h"

namespace oryx {

void recurrence_check_inputs(const char* op, const torch::Tensor& q, const torch::Tensor& k,
                             const torch::Tensor& v, const torch::Tensor& g,
                             const torch::Tensor& beta, const torch::Tensor& initial_state) {
  std::string p(op);
  check_shape(q, (p + ": q").c_str(), {-1, -1, -1, -1});
  int64_t B = q.size(0), T = q.size(1), H = q.size(2), K = q.size(3);
  check_shape(k, (p + ": k").c_str(), {B, T, H, K});
  check_shape(v, (p + ": v").c_str(), {B, T, H, -1});
  check_shape(g, (p + ": g").c_str(), {B, T, H});
  check_shape(beta, (p + ": beta").c_str(), {B, T, H});
  if (initial_state.defined())
    check_shape(initial_state, (p + ": initial_state").c_str(), {B, H, K, v.size(3)});
  for (const auto* t : {&k, &v, &g, &beta}) check_same_device(q, *t, op);
  ORYX_CHECK(q.scalar_type() == k.scalar_type() && q.scalar_type() == v.scalar_type(), op,
             ": q, k and v must share a dtype");
}

void recurrence_check_step_inputs(const char* op, const torch::Tensor& q, const torch::Tensor& k,
                                  const torch::Tensor& v, const torch::Tensor& g,
                                  const torch::Tensor& beta, const torch::Tensor& state) {
  std::string p(op);
  check_shape(q, (p + ": q").c_str(), {-1, -1, -1});
  int64_t B = q.size(0), H = q.size(1), K = q.size(2);
  check_shape(k, (p + ": k").c_str(), {B, H, K});
  check_shape(v, (p + ": v").c_str(), {B, H, -1});
  check_shape(g, (p + ": g").c_str(), {B, H});
  check_shape(beta, (p + ": beta").c_str(), {B, H});
  check_shape(state, (p + ": state").c_str(), {B, H, K, v.size(2)});
}

torch::Tensor recurrence_initial_state(const torch::Tensor& initial_state, const torch::Tensor& v,
                                       int64_t K) {
  auto dt = state_dtype(v.scalar_type());
  if (initial_state.defined()) return initial_state.to(dt);
  return torch::zeros({v.size(0), v.size(2), K, v.size(3)}, v.options().dtype(dt));
}

torch::Tensor recurrence_pad_time(const torch::Tensor& x, int64_t T_padded) {
  if (T_padded == x.size(1)) return x;
  std::vector<int64_t> pad(2 * (x.dim() - 2), 0);  // F.pad order: last dim first
  pad.push_back(0);
  pad.push_back(T_padded - x.size(1));
  return torch::constant_pad_nd(x, pad, 0);
}

torch::Tensor recurrence_to_chunks(const torch::Tensor& x, int64_t chunk) {
  int64_t T = x.size(1);
  int64_t N = (T + chunk - 1) / chunk;
  torch::Tensor y = recurrence_pad_time(x, N * chunk);
  // [B, N*C, H, ...] -> [B, N, C, H, ...] -> [B, H, N, C, ...]
  std::vector<int64_t> shape = {x.size(0), N, chunk};
  for (int64_t d = 2; d < x.dim(); ++d) shape.push_back(x.size(d));
  y = y.reshape(shape);
  std::vector<int64_t> perm = {0, 3, 1, 2};
  for (int64_t d = 4; d < y.dim(); ++d) perm.push_back(d);
  return y.permute(perm);
}

torch::Tensor recurrence_from_chunks(const torch::Tensor& x, int64_t T) {
  // [B,H,N,C,V] -> [B,N,C,H,V] -> [B,N*C,H,V]
  auto y = x.permute({0, 2, 3, 1, 4});
  y = y.reshape({x.size(0), x.size(2) * x.size(3), x.size(1), x.size(4)});
  return y.narrow(1, 0, T);
}

}  // namespace oryx
