// Small functional pieces of the Oryx layer, each computed in fp32 (fp64 for fp64 inputs)
// and returned in the input's dtype, so bf16 activations keep fp32 statistics.
#pragma once
#include <torch/types.h>

namespace oryx {

// The MLP's SwiGLU: silu(gate) * up, in the inputs' dtype (fp32 arithmetic for bf16). One
// fused kernel each way on bf16 CUDA tensors (kernels/swiglu.cu); the reference beside it.
torch::Tensor swiglu(const torch::Tensor& gate, const torch::Tensor& up);
torch::Tensor swiglu_reference(const torch::Tensor& gate, const torch::Tensor& up);

// x * rsqrt(mean(x^2, last dim) + eps) * weight; weight has the size of the last dim.
// Fused (at::rms_norm) on CUDA; rms_norm_reference is the formula written out, for tests.
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);
torch::Tensor rms_norm_reference(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// A step of the residual stream: sum = h + delta (h itself when delta is undefined) and the
// next matmuls' operand x = matmul_operand(rms_norm(sum, weight, eps)). Under bf16 autocast on
// CUDA, with fp32 h and bf16 delta, one fused kernel each way (kernels/add_norm.cu) in place of
// an add, an fp32 norm and a cast; the reference (sum and the fp32 norm) beside it.
struct NormedSum {
  torch::Tensor sum, x;
};
NormedSum add_rms_norm(const torch::Tensor& h, const torch::Tensor& delta, const torch::Tensor& weight,
                       double eps);
NormedSum add_rms_norm_reference(const torch::Tensor& h, const torch::Tensor& delta, const torch::Tensor& weight,
                                 double eps);

// GatedRMSNorm of SPEC section 1: RMSNorm over each head's V values, times SiLU(gate).
// o and gate [B,T,H,V]; weight [V] (one gain shared by the heads).
// One fused kernel on bf16 CUDA tensors (kernels/gated_norm.cu); the reference beside it.
torch::Tensor gated_rms_norm(const torch::Tensor& o, const torch::Tensor& gate,
                             const torch::Tensor& weight, double eps);
torch::Tensor gated_rms_norm_reference(const torch::Tensor& o, const torch::Tensor& gate,
                                       const torch::Tensor& weight, double eps);

// x / sqrt(sum(x^2, last dim) + eps): the per-head L2 normalisation of GDN's q and k.
torch::Tensor l2_normalize(const torch::Tensor& x, double eps = 1e-6);
torch::Tensor l2_normalize_reference(const torch::Tensor& x, double eps = 1e-6);

// The dtype a matmul of x runs in: the autocast dtype when CUDA autocast is on and x is fp32
// (as autocast's linear would cast it), else x's own.
torch::ScalarType matmul_dtype(const torch::Tensor& x);

// x in matmul_dtype(x). For a tensor that only feeds matmuls (which autocast would cast at
// each use): one cast, not one per consumer; the values the matmuls see are the same.
torch::Tensor matmul_operand(const torch::Tensor& x);

// t.index_select(dim, index) for an index without repeats: the backward writes the gradient
// into zeros with index_copy, where index_select's own backward adds it with atomics (it
// cannot know that no index repeats).
torch::Tensor index_select_unique(const torch::Tensor& t, int64_t dim, const torch::Tensor& index);

// Rotary position embedding (rotate-half form) of x [B,T,H,K] at absolute positions [T].
torch::Tensor rope_apply(const torch::Tensor& x, const torch::Tensor& positions, double theta);

// Causal depthwise convolution along time with a carried left context.
//   x [B,T,C]; weight [C,W]; state [B,W-1,C] holds the W-1 inputs before x (oldest first),
//   undefined for zeros. y_t = sum_j weight[:, j] * x_{t-W+1+j}, so weight[:, W-1] multiplies
//   the current token. Returns y [B,T,C] and the new state (the last W-1 inputs).
struct ConvOutput {
  torch::Tensor y;
  torch::Tensor state;
};
ConvOutput short_conv(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& state);

// The same for one token: x [B,C]; state [B,W-1,C] required. Used by decoding.
ConvOutput short_conv_step(const torch::Tensor& x, const torch::Tensor& weight,
                           const torch::Tensor& state);

// The short convolution as the layer and the mixers apply it, followed by SiLU when `silu`.
// `state` is the cache's window (nullptr without a cache), overwritten in place with the new
// one. A single token with a cache goes through short_conv_step when `allow_step` (decoding);
// everything else through short_conv. On bf16 CUDA tensors the fused kernels
// (kernels/short_conv.cu) take both cases without a cache and the decoding step.
torch::Tensor short_conv_cached(const torch::Tensor& x, const torch::Tensor& weight, torch::Tensor* state,
                                bool allow_step, bool silu = false);

}  // namespace oryx
