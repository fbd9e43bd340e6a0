#include "oryx/layer/modes.h"

#include "oryx/common/error.h"
#include "oryx/common/shape.h"

namespace oryx {

TokenModes TokenModes::from_mask(const torch::Tensor& mask_in, int64_t batch, std::optional<torch::Device> on,
                                  bool with_runs) {
  // The facts below are read on the host: derive them from a CPU copy (free when the mask
  // was made on the CPU, as the trainer's sampler makes it) and hand the layers tensors on
  // their device. One small copy, instead of a synchronisation per fact on the device.
  auto device = on.value_or(mask_in.device());
  auto mask = mask_in.to(torch::kCPU);
  ORYX_CHECK(mask.scalar_type() == torch::kBool, "mode mask must be bool, got ", mask.scalar_type());
  ORYX_CHECK(mask.dim() == 1 || mask.dim() == 2, "mode mask must be [T] or [B,T], got ",
             shape_str(mask.sizes()));
  TokenModes m;
  m.is_attention = mask.dim() == 1 ? mask.unsqueeze(0).expand({batch, mask.size(0)}) : mask;
  ORYX_CHECK(m.is_attention.size(0) == batch, "mode mask has ", m.is_attention.size(0),
             " rows for a batch of ", batch);
  auto per_position = m.is_attention.any(0);  // [T]
  int64_t n_a = per_position.sum().item<int64_t>();
  int64_t T = per_position.size(0);
  m.any_a = n_a > 0;
  m.any_l = !m.is_attention.all().item<bool>();
  if (n_a < T) m.a_positions = per_position.nonzero().squeeze(1).to(device);
  if (with_runs && m.any_a && m.any_l && T > 1)
    m.runs = AttentionRuns::from_mask(m.is_attention.contiguous(), device);
  m.is_attention = m.is_attention.to(device);
  return m;
}

TokenModes TokenModes::for_any_mixed_mask(int64_t batch, int64_t T, torch::Device device) {
  ORYX_CHECK(batch > 0 && T > 1, "modes for any mixed mask need a batch and more than one token, got [", batch,
             ",", T, "]");
  TokenModes m;
  m.is_attention = torch::zeros({batch, T}, torch::TensorOptions().dtype(torch::kBool).device(device));
  m.any_a = m.any_l = true;
  m.runs.batch = batch;
  m.runs.seq_len = T;
  m.runs.dense_seqs = torch::arange(batch, torch::TensorOptions().dtype(torch::kLong).device(device));
  return m;
}

}  // namespace oryx
