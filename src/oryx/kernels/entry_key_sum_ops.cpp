#include "oryx/kernels/entry_key_sum_ops.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "oryx/kernels/entry_key_sum.h"
#include "oryx/kernels/ops_common.h"

namespace oryx {

namespace K = kernels;

bool kernels_entry_key_sum_supported(const torch::Tensor& dk, const torch::Tensor& dv) {
  if (!dk.is_cuda() || dk.scalar_type() != torch::kBFloat16 || dv.scalar_type() != torch::kBFloat16) return false;
  if (dk.sizes() != dv.sizes() || dk.dim() != 3 || (dk.size(1) * dk.size(2)) % 8 != 0) return false;
  return K::is_hopper(dk);
}

std::pair<torch::Tensor, torch::Tensor> kernels_entry_key_sum(const torch::Tensor& dk_in, const torch::Tensor& dv_in,
                                                             const torch::Tensor& cu_k,
                                                             const torch::Tensor& seq_entries, int64_t batch,
                                                             int64_t seq_len) {
  c10::cuda::CUDAGuard guard(dk_in.device());
  auto dk_entries = dk_in.contiguous(), dv_entries = dv_in.contiguous();
  int64_t rows = batch * seq_len;
  auto dk = torch::empty({rows, dk_entries.size(1), dk_entries.size(2)}, dk_entries.options());
  auto dv = torch::empty_like(dk);
  K::EntryKeySumParams p;
  p.B = static_cast<int>(batch);
  p.T = static_cast<int>(seq_len);
  p.C = static_cast<int>(dk_entries.size(1) * dk_entries.size(2));
  p.cu_k = cu_k.data_ptr<int>();
  p.seq_entries = seq_entries.data_ptr<int>();
  p.src_k = K::bf16_ptr(dk_entries);
  p.src_v = K::bf16_ptr(dv_entries);
  p.dst_k = K::bf16_mut_ptr(dk);
  p.dst_v = K::bf16_mut_ptr(dv);
  K::entry_key_sum(p, at::cuda::getCurrentCUDAStream());
  K::check_launch("entry_key_sum");
  return {dk, dv};
}

}  // namespace oryx
