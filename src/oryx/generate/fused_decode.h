// The decoding step of Model::decode_step in a few fused kernels a layer. Up to four sequences,
// mode L, a layer is five kernels: add + norm + one product for every input projection
// (kernels/decode_gemv.h), the mixer step (kernels/decode_layer.h), the output projection,
// add + norm + the MLP's gate and up with the SwiGLU, the down projection. More sequences take
// cuBLAS's products with the norms and SwiGLU as kernels of their own (eight a layer). Mode A
// adds flash-decoding's two kernels (the GatedRMSNorm folded into the second).
// Model::decode_step stays the reference (about sixty kernels a layer) and
// ORYX_FUSED_DECODE=0 (or ORYX_FORCE_REFERENCE=1) keeps to it.
//
// The products read packed copies of the weights, made once when this object is built: each
// layer's input projections in one [N, D] matrix (k, v, the output gate, the linear mixer's
// query and gates, then the attention's own query, which mode L leaves out) and the MLP's gate
// and up in one [2M, D]. They are copies: build the object after the weights last change
// (generate() builds one per call). The copies cost memory (for the 350m configs about 0.4 GB).
//
// Numerics: bf16 activations and caches, fp32 states, rounded to bf16 where the step path
// rounds; the two agree to fp32 summation order (device test: tests/gpu/gpu_decode_tests.cpp).
// Built with the CUDA kernels (ORYX_CUDA=ON) only.
#pragma once
#ifdef ORYX_WITH_CUDA_KERNELS
#include <torch/types.h>

#include <string>
#include <vector>

#include "oryx/cache/cache.h"
#include "oryx/model/model.h"

namespace oryx {

class FusedDecode {
 public:
  // Empty when the fused step serves this model and cache, else why not (for the bench's
  // report): bf16 weights and caches on a Hopper GPU, head dims 64 or 128, conv width 2 to 4,
  // and neither ORYX_FUSED_DECODE=0 nor ORYX_FORCE_REFERENCE=1.
  static std::string unsupported(const OryxModelImpl& model, ModelCache& cache);

  explicit FusedDecode(const OryxModelImpl& model);

  // Model::decode_step's contract: tokens [B,1] on the device, every sequence in mode A
  // (mode_a) or L, each at its own cache length; writes the cache in place and does not
  // advance it. Returns logits [B,vocab] fp32.
  torch::Tensor step(const torch::Tensor& tokens, bool mode_a, ModelCache& cache) const;

 private:
  struct Layer {
    torch::Tensor w_in;  // [N, D] packed input projections
    int64_t rows_l = 0;  // rows mode L reads (all but the attention's own query)
    int off_k = 0, off_v = 0, off_gate = 0, off_q_lin = -1, off_q_attn = -1, off_gates = -1;
    torch::Tensor norm1, norm2;                  // fp32 gains
    torch::Tensor conv_k, conv_v, conv_q;        // the model's own [C, W]
    torch::Tensor q_norm, k_norm;                // fp32, undefined without QK-norm
    torch::Tensor a_log, dt_bias, d_skip;        // fp32
    torch::Tensor out_norm_a;                    // the model's own [V] gain of mode A
    torch::Tensor out_norm_a_f32, out_norm_l_f32;  // fp32 gains of the fused GatedRMSNorms, per mode
    torch::Tensor w_o, w_gate_up, w_down;
  };
  // One layer: h and delta (the stream, h + delta) in, the next layer's out; `gemv` picks
  // the matrix-vector kernels (up to four sequences) over cuBLAS.
  void layer_step(const Layer& L, int64_t i, torch::Tensor& h, torch::Tensor& delta, bool mode_a, bool gemv,
                  ModelCache& cache) const;

  ModelConfig c_;
  torch::Tensor embed_, final_norm_, head_;
  std::vector<Layer> layers_;
};

}  // namespace oryx

#endif  // ORYX_WITH_CUDA_KERNELS
