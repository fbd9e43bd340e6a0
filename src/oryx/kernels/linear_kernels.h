// Launchers of the linear-mixer kernels (no torch here; see linear_ops.h for the tensor API).
// Each returns after queueing its kernels on `stream`; errors surface via cudaGetLastError.
#pragma once
#include <cuda_runtime_api.h>

#include "oryx/kernels/linear_params.h"

namespace oryx::kernels {

// True when the kernels are compiled for these head dims (K, V in {64, 128}).
bool linear_dims_supported(int K, int V);

// Chunked forward: fills G, P (and A, W, U for GDN), o, ht, and E, h when p.save.
void linear_forward(Mixer mixer, const ChunkParams& p, cudaStream_t stream);

// Chunked backward from the saved intermediates: dq, dk, dv, dg, dbeta, dh0 (uses dE, dh
// as workspace).
void linear_backward(Mixer mixer, const ChunkParams& p, cudaStream_t stream);

// One decoding step (reads and writes the state once).
void linear_step(Mixer mixer, const StepParams& p, cudaStream_t stream);

}  // namespace oryx::kernels
