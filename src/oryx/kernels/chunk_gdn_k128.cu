// Instantiation: chunked gdn kernels for K = V = 128 (one file per combination compiles in parallel).
#include "oryx/kernels/chunk_launch.cuh"

namespace oryx::kernels {
template void chunk_forward<Mixer::Gdn, 128, 128>(const ChunkParams&, cudaStream_t);
template void chunk_backward<Mixer::Gdn, 128, 128>(const ChunkParams&, cudaStream_t);
}  // namespace oryx::kernels
