#include "oryx/mixers/dispatch.h"

#include <algorithm>
#include <cstdlib>

#include "oryx/common/error.h"
#include "oryx/mixers/gdn/gdn.h"
#include "oryx/mixers/mamba2/mamba2.h"
#ifdef ORYX_WITH_CUDA_KERNELS
#include "oryx/kernels/linear_ops.h"
#endif

namespace oryx {

bool reference_forced() {
  static const bool force = [] {
    const char* e = std::getenv("ORYX_FORCE_REFERENCE");
    return e && std::string(e) == "1";
  }();
  return force;
}

namespace {

// Our kernels take a call when the build has them, the inputs qualify (bf16 CUDA q/k/v,
// K = V in {64, 128}, a Hopper GPU: kernels/linear_ops.h) and no one forced the reference.
bool use_chunked_kernels(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
#ifdef ORYX_WITH_CUDA_KERNELS
  return !reference_forced() && kernels_linear_supported(q, k, v);
#else
  return false;
#endif
}

#ifdef ORYX_WITH_CUDA_KERNELS
// ssd_segment_len_for's choice on this GPU, or ORYX_SSD_SEGMENT=N tokens (0: never segment),
// for A/B runs.
int64_t ssd_segment_len(const torch::Tensor& q, const torch::Tensor& v) {
  static const int64_t forced = [] {
    const char* e = std::getenv("ORYX_SSD_SEGMENT");
    return e ? std::max<int64_t>(0, std::atoll(e)) : int64_t{-1};
  }();
  if (forced >= 0) return forced;
  return ssd_segment_len_for(q.size(0), q.size(1), q.size(2), v.size(3), kernels_sm_count(q));
}

bool use_step_kernel(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                     const torch::Tensor& state) {
  return !reference_forced() && kernels_step_supported(q, k, v, state);
}
#endif

}  // namespace

const char* linear_backend_name(const torch::Tensor& q) {
  return use_chunked_kernels(q, q, q) ? "cuda-kernels" : "reference";
}

RecurrenceOutput linear_chunked(LinearKind kind, const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, const torch::Tensor& g,
                                const torch::Tensor& beta, const torch::Tensor& initial_state,
                                double scale, int64_t chunk) {
#ifdef ORYX_WITH_CUDA_KERNELS
  // The kernels use chunks of 64 whatever `chunk` says: the result does not depend on it.
  if (kind != LinearKind::None && use_chunked_kernels(q, k, v)) {
    if (kind == LinearKind::Mamba2) {
      if (const int64_t segment = ssd_segment_len(q, v); segment > 0)
        return ssd_segmented(q, k, v, g, beta, initial_state, scale, segment,
                             [&](const torch::Tensor& qs, const torch::Tensor& ks, const torch::Tensor& vs,
                                 const torch::Tensor& gs, const torch::Tensor& bs, const torch::Tensor& h0) {
                               return kernels_linear_chunked(kind, qs, ks, vs, gs, bs, h0, scale);
                             });
    }
    return kernels_linear_chunked(kind, q, k, v, g, beta, initial_state, scale);
  }
#endif
  switch (kind) {
    case LinearKind::GatedDeltaNet: return gdn_chunked(q, k, v, g, beta, initial_state, scale, chunk);
    case LinearKind::Mamba2: return ssd_chunked(q, k, v, g, beta, initial_state, scale, chunk);
    case LinearKind::None: break;
  }
  ORYX_FAIL("linear_chunked: this model has no linear mixer");
}

RecurrenceOutput linear_naive(LinearKind kind, const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v, const torch::Tensor& g,
                              const torch::Tensor& beta, const torch::Tensor& initial_state,
                              double scale) {
  switch (kind) {
    case LinearKind::GatedDeltaNet: return gdn_naive(q, k, v, g, beta, initial_state, scale);
    case LinearKind::Mamba2: return ssd_naive(q, k, v, g, beta, initial_state, scale);
    case LinearKind::None: break;
  }
  ORYX_FAIL("linear_naive: this model has no linear mixer");
}

RecurrenceOutput linear_step(LinearKind kind, const torch::Tensor& q, const torch::Tensor& k,
                             const torch::Tensor& v, const torch::Tensor& g,
                             const torch::Tensor& beta, const torch::Tensor& state, double scale) {
#ifdef ORYX_WITH_CUDA_KERNELS
  if (kind != LinearKind::None && use_step_kernel(q, k, v, state))
    return kernels_linear_step(kind, q, k, v, g, beta, state, scale, /*in_place=*/false);
#endif
  switch (kind) {
    case LinearKind::GatedDeltaNet: return gdn_step(q, k, v, g, beta, state, scale);
    case LinearKind::Mamba2: return ssd_step(q, k, v, g, beta, state, scale);
    case LinearKind::None: break;
  }
  ORYX_FAIL("linear_step: this model has no linear mixer");
}

RecurrenceOutput linear_step_(LinearKind kind, const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v, const torch::Tensor& g,
                              const torch::Tensor& beta, torch::Tensor& state, double scale) {
#ifdef ORYX_WITH_CUDA_KERNELS
  if (kind != LinearKind::None && state.is_contiguous() && use_step_kernel(q, k, v, state))
    return kernels_linear_step(kind, q, k, v, g, beta, state, scale, /*in_place=*/true);
#endif
  RecurrenceOutput r = linear_step(kind, q, k, v, g, beta, state, scale);
  state.copy_(r.state);
  return {r.o, state};
}

}  // namespace oryx
