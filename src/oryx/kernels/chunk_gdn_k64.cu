// Instantiation: chunked gdn kernels for K = V = 64 (one file per combination compiles in parallel).
#include "oryx/kernels/chunk_launch.cuh"

namespace oryx::kernels {
template void chunk_forward<Mixer::Gdn, 64, 64>(const ChunkParams&, cudaStream_t);
template void chunk_backward<Mixer::Gdn, 64, 64>(const ChunkParams&, cudaStream_t);
}  // namespace oryx::kernels
