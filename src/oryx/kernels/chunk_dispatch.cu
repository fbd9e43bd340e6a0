// Runtime (mixer, K, V) -> the compiled instantiation.
#include "oryx/kernels/linear_kernels.h"

#include <cstdlib>

namespace oryx::kernels {

template <Mixer M, int K, int V> void chunk_forward(const ChunkParams&, cudaStream_t);
template <Mixer M, int K, int V> void chunk_backward(const ChunkParams&, cudaStream_t);
int state_tile_width(const ChunkParams& p);

int device_sm_count() {
  int dev = 0, n = 0;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev);
  return n;
}

int state_tile_width(const ChunkParams& p) {
  static const int forced = [] {
    const char* e = std::getenv("ORYX_KERNELS_BV");
    return e ? std::atoi(e) : 0;
  }();
  if ((forced == 32 || forced == 64 || forced == 128) && forced <= p.V) return forced;
  static const int sms = device_sm_count();
  long heads = static_cast<long>(p.B) * p.H;
  for (int bv = p.V; bv > 32; bv /= 2)
    if (heads * (p.V / bv) * 10 >= sms * 9) return bv;
  return 32;
}

bool linear_dims_supported(int K, int V) { return K == V && (K == 64 || K == 128); }

void linear_forward(Mixer mixer, const ChunkParams& p, cudaStream_t stream) {
  bool gdn = mixer == Mixer::Gdn;
  if (p.K == 64) gdn ? chunk_forward<Mixer::Gdn, 64, 64>(p, stream) : chunk_forward<Mixer::Ssd, 64, 64>(p, stream);
  else gdn ? chunk_forward<Mixer::Gdn, 128, 128>(p, stream) : chunk_forward<Mixer::Ssd, 128, 128>(p, stream);
}

void linear_backward(Mixer mixer, const ChunkParams& p, cudaStream_t stream) {
  bool gdn = mixer == Mixer::Gdn;
  if (p.K == 64) gdn ? chunk_backward<Mixer::Gdn, 64, 64>(p, stream) : chunk_backward<Mixer::Ssd, 64, 64>(p, stream);
  else gdn ? chunk_backward<Mixer::Gdn, 128, 128>(p, stream) : chunk_backward<Mixer::Ssd, 128, 128>(p, stream);
}

}  // namespace oryx::kernels
