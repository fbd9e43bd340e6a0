// The one signature shared by both linear mixers (Gated DeltaNet and Mamba-2 SSD) in all
// their forms: naive per-token reference, chunked parallel form, single-token step, and
// the CUDA kernels.
//
//   q, k          [B,T,H,K]
//   v             [B,T,H,V]
//   g             [B,T,H]    log of the per-token decay (alpha_t = exp(g_t), g_t <= 0)
//   beta          [B,T,H]    write strength (GDN: sigmoid gate; Mamba-2: dt)
//   initial_state [B,H,K,V]  or undefined for zeros
//   scale         o_t = scale * q_t^T S_t
// returns o [B,T,H,V] in v's dtype and the final state [B,H,K,V] in fp32 (fp64 for fp64
// inputs). The state is K-major: S_t = sum over earlier tokens of decayed k_s v_s^T outer
// products, so a read is a (1 x K) @ (K x V) product.
#pragma once
#include <torch/types.h>

namespace oryx {

struct RecurrenceOutput {
  torch::Tensor o;      // [B,T,H,V]
  torch::Tensor state;  // [B,H,K,V]
};

// Validates shapes, devices and dtypes of a sequence call; `op` names the caller.
void recurrence_check_inputs(const char* op, const torch::Tensor& q, const torch::Tensor& k,
                             const torch::Tensor& v, const torch::Tensor& g,
                             const torch::Tensor& beta, const torch::Tensor& initial_state);

// Validates a single-token call: q, k [B,H,K], v [B,H,V], g, beta [B,H], state [B,H,K,V].
void recurrence_check_step_inputs(const char* op, const torch::Tensor& q, const torch::Tensor& k,
                                  const torch::Tensor& v, const torch::Tensor& g,
                                  const torch::Tensor& beta, const torch::Tensor& state);

// The initial state in the state dtype, zeros when undefined.
torch::Tensor recurrence_initial_state(const torch::Tensor& initial_state, const torch::Tensor& v,
                                       int64_t K);

// [B,T,...] zero-padded along T up to `T_padded` tokens (the tensor itself when nothing is
// missing). A zero-padded token has g = 0 and beta = 0: it leaves the state unchanged.
torch::Tensor recurrence_pad_time(const torch::Tensor& x, int64_t T_padded);

// Splits [B,T,H,...] into chunks for the chunked forms: pads T up to a multiple of `chunk`
// with zeros (a zero-padded token has g = 0 and beta = 0, so it leaves the state unchanged)
// and returns [B,H,N,C,...] with N = ceil(T / chunk) chunks of C = chunk tokens.
torch::Tensor recurrence_to_chunks(const torch::Tensor& x, int64_t chunk);
// The inverse for outputs: [B,H,N,C,V] -> [B,T,H,V], dropping the padding.
torch::Tensor recurrence_from_chunks(const torch::Tensor& x, int64_t T);

}  // namespace oryx
