// Eight bf16 values moved as one 16-byte access, the widest global load: for kernels that
// stream bf16 rows (pointers 16-byte aligned, lengths a multiple of 8).
#pragma once
#include <cuda_bf16.h>

namespace oryx::kernels {

struct alignas(16) Bf16x8 {
  __nv_bfloat16 v[8];
};

}  // namespace oryx::kernels
