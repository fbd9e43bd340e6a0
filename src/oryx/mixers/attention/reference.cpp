// The reference attention: for each query, a softmax over the keys it may see, in the state
// dtype. Slow on purpose; attention_chunked and attention_step are tested against it.
#include "oryx/common/error.h"
#include "oryx/common/shape.h"
#include "oryx/mixers/attention/attention.h"

namespace oryx {

torch::Tensor attention_check_inputs(const char* op, const torch::Tensor& q, const torch::Tensor& k,
                                     const torch::Tensor& v, const torch::Tensor& q_pos) {
  std::string p(op);
  check_shape(q, (p + ": q").c_str(), {-1, -1, -1, -1});
  int64_t B = q.size(0), Tq = q.size(1), H = q.size(2), K = q.size(3);
  check_shape(k, (p + ": k").c_str(), {B, -1, H, K});
  int64_t Tk = k.size(1);
  check_shape(v, (p + ": v").c_str(), {B, Tk, H, -1});
  check_same_device(q, k, op);
  check_same_device(q, v, op);
  ORYX_CHECK(Tq <= Tk, op, ": ", Tq, " queries but only ", Tk, " keys");
  if (!q_pos.defined())
    return torch::arange(Tk - Tq, Tk, q.options().dtype(torch::kLong));
  check_shape(q_pos, (p + ": q_pos").c_str(), {Tq});
  ORYX_CHECK(q_pos.scalar_type() == torch::kLong, op, ": q_pos must be int64");
  return q_pos.to(q.device());
}

torch::Tensor attention_naive(const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v, const torch::Tensor& q_pos, double scale) {
  auto pos = attention_check_inputs("attention_naive", q, k, v, q_pos).cpu();
  auto dt = q.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  std::vector<torch::Tensor> outs;
  for (int64_t i = 0; i < q.size(1); ++i) {
    int64_t p = pos[i].item<int64_t>();
    ORYX_CHECK(p >= 0 && p < k.size(1), "attention_naive: q_pos[", i, "] = ", p, " out of range");
    auto qi = q.select(1, i).to(dt);                   // [B,H,K]
    auto ks = k.narrow(1, 0, p + 1).to(dt);            // [B,p+1,H,K]
    auto vs = v.narrow(1, 0, p + 1).to(dt);            // [B,p+1,H,V]
    auto scores = (qi.unsqueeze(1) * ks).sum(-1) * scale;   // [B,p+1,H]
    auto w = torch::softmax(scores, 1);
    outs.push_back((w.unsqueeze(-1) * vs).sum(1));     // [B,H,V]
  }
  if (outs.empty()) return torch::zeros({q.size(0), 0, q.size(2), v.size(3)}, v.options());
  return torch::stack(outs, 1).to(v.scalar_type());
}

}  // namespace oryx
