// The training loop (SPEC section 4), on a dataset or on synthetic MQAR (train/data_source.h):
// AdamW with warm-up and cosine decay, gradient clipping and accumulation, bf16 autocast on
// CUDA with fp32 master weights and fp32 recurrent states, the chunked mixed-mode schedule
// for Oryx models, periodic validation per mode, JSONL metrics, a progress bar, atomic
// checkpoints with exact resume, and a checkpoint on SIGINT/SIGTERM.
//
// The run folder <out>:
//   metrics.jsonl   one record per log step and per evaluation (train/metrics.h)
//   run.json        the options of the run
//   ckpt/           the latest checkpoint (model, optimizer, trainer state), for --resume
//   final/          the checkpoint at the end of the budget
//   loss.png        with plot on (gnuplot)
#pragma once
#include <nlohmann/json.hpp>

#include "oryx/train/options.h"

namespace oryx {

struct TrainSummary {
  int64_t steps = 0;           // optimizer steps done in all (resumed ones included)
  int64_t tokens = 0;          // tokens trained on in all
  double last_loss = 0;        // training loss of the last step
  nlohmann::json last_eval;    // the last evaluation record
  bool finished = false;       // the budget is spent (final/ written)
  bool interrupted = false;    // stopped by SIGINT or SIGTERM (checkpoint written)
  int signal = 0;
  double seconds = 0;          // wall time of this invocation
  bool reports = true;         // this process prints the summary (rank 0 of a distributed run)
};

// In a data-parallel run (WORLD_SIZE etc. set, dist/world.h) each process calls it: they
// train as one process with batch_size x WORLD_SIZE sequences per micro-batch would.
TrainSummary train_run(const TrainOptions& options);

}  // namespace oryx
