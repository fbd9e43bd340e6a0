// The Mamba-2 variant of mode L (SPEC section 1): k is the SSM's B, v its X, q its C.
//   q_L = ShortConv_q(x W_q) (no activation)
//   dt_t = softplus(x W_dt + dt_bias),  a_t = exp(-exp(A_log) dt_t)
//   S_t = a_t S_{t-1} + dt_t k_t v_t^T,  o_t = S_t q_L,t + D v_t
// Initialised as Mamba-2: A ~ U(1, 16), dt log-uniform in [1e-3, 1e-1], D = 1.
#include "oryx/layer/init.h"
#include "oryx/mixers/linear_mixer.h"

namespace oryx {

namespace {

class Mamba2MixerImpl : public LinearMixerImpl {
 public:
  explicit Mamba2MixerImpl(const ModelConfig& c) : LinearMixerImpl(c) {
    w_dt = register_parameter("w_dt", init_linear(c.n_heads, c.d_model, c.init_std));
    A_log = register_parameter("A_log", init_a_log(c.n_heads, 1, 16));
    dt_bias = register_parameter("dt_bias", init_dt_bias(c.n_heads));
    D = register_parameter("D", torch::ones({c.n_heads}));
  }

 protected:
  Gates gates(const torch::Tensor& x) const override {
    auto dt_type = x.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
    auto raw = torch::nn::functional::linear(x, w_dt).to(dt_type);
    auto dt = torch::softplus(raw + dt_bias.to(dt_type));
    return {-A_log.to(dt_type).exp() * dt, dt};
  }
  bool q_conv_silu() const override { return false; }
  torch::Tensor queries(const torch::Tensor& q) const override { return q; }
  torch::Tensor finish(const torch::Tensor& o, const torch::Tensor& v) const override {
    return o + (D.to(v.scalar_type()).view({1, 1, -1, 1}) * v).to(o.scalar_type());
  }
  double scale() const override { return 1.0; }

 private:
  torch::Tensor w_dt, D;
};

}  // namespace

LinearMixer linear_mixer_create_mamba2(const ModelConfig& c) {
  return LinearMixer(std::shared_ptr<LinearMixerImpl>(std::make_shared<Mamba2MixerImpl>(c)));
}

}  // namespace oryx
