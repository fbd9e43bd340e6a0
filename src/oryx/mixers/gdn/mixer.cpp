// The Gated DeltaNet variant of mode L (SPEC section 1):
//   q_L = L2norm(SiLU(ShortConv_q(x W_q)))
//   alpha_t = exp(-exp(A_log) softplus(x W_a + dt_bias)),  beta_t = sigmoid(x W_b)
//   o_t = S_t q_L,t / sqrt(K)
// Initialised as Gated DeltaNet: A ~ U(0, 16), dt log-uniform in [1e-3, 1e-1].
#include "oryx/layer/init.h"
#include "oryx/layer/ops.h"
#include "oryx/mixers/linear_mixer.h"

namespace oryx {

namespace {

class GdnMixerImpl : public LinearMixerImpl {
 public:
  explicit GdnMixerImpl(const ModelConfig& c) : LinearMixerImpl(c) {
    w_a = register_parameter("w_a", init_linear(c.n_heads, c.d_model, c.init_std));
    w_b = register_parameter("w_b", init_linear(c.n_heads, c.d_model, c.init_std));
    A_log = register_parameter("A_log", init_a_log(c.n_heads, 0, 16));
    dt_bias = register_parameter("dt_bias", init_dt_bias(c.n_heads));
  }

 protected:
  Gates gates(const torch::Tensor& x) const override {
    // Gates in fp32 (fp64 for fp64 models) whatever the activation dtype.
    auto dt_type = x.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
    // Both gates' inputs from one product: [B,T,H] outputs are skinny matmuls that take as
    // long as much wider ones (three a layer each way on an H200), so one, not two.
    const int64_t H = c_.n_heads;
    auto ab = torch::nn::functional::linear(x, torch::cat({w_a, w_b})).to(dt_type);
    auto g = -A_log.to(dt_type).exp() * torch::softplus(ab.narrow(-1, 0, H) + dt_bias.to(dt_type));
    auto beta = torch::sigmoid(ab.narrow(-1, H, H));
    return {g, beta};
  }
  bool q_conv_silu() const override { return true; }
  torch::Tensor queries(const torch::Tensor& q) const override { return l2_normalize(q); }
  torch::Tensor finish(const torch::Tensor& o, const torch::Tensor&) const override { return o; }
  double scale() const override { return 1.0 / std::sqrt(static_cast<double>(c_.head_dim_k)); }

 private:
  torch::Tensor w_a, w_b;
};

}  // namespace

LinearMixer linear_mixer_create_gdn(const ModelConfig& c) {
  return LinearMixer(std::shared_ptr<LinearMixerImpl>(std::make_shared<GdnMixerImpl>(c)));
}

}  // namespace oryx
