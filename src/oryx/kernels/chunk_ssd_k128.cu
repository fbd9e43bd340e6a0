// Instantiation: chunked ssd kernels for K = V = 128 (one file per combination compiles in parallel).
#include "oryx/kernels/chunk_launch.cuh"

namespace oryx::kernels {
template void chunk_forward<Mixer::Ssd, 128, 128>(const ChunkParams&, cudaStream_t);
template void chunk_backward<Mixer::Ssd, 128, 128>(const ChunkParams&, cudaStream_t);
}  // namespace oryx::kernels
