// The tensor API of the flash-decoding kernels (ORYX_CUDA=ON), called by attention_step
// (mixers/attention/step.cpp) for bf16 CUDA caches; the einsum and softmax there are the
// reference.
#pragma once
#include <torch/types.h>

namespace oryx {

// True for bf16 CUDA q [B,H,D] and k, v [B,L,H,D] (D 64 or 128, rows contiguous) on a Hopper GPU.
bool kernels_decode_attention_supported(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);

// attention_step's values: key_counts [B] int64 on the device (each in [1, L]), or
// undefined for all L keys. Returns [B,H,D] bf16. With `gate` ([B,H,D] bf16) the output is
// gated_rms_norm(o, gate, gain, eps) (layer/ops.h) instead, in the same kernels; gain [D].
torch::Tensor kernels_decode_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                       double scale, const torch::Tensor& key_counts,
                                       const torch::Tensor& gate = {}, const torch::Tensor& gain = {}, double eps = 0);

}  // namespace oryx
