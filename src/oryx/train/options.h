// Everything a training run is configured by. One JSON object (or TOML table) describes it;
// `oryx train` builds that object from an optional run file (--run FILE.json|.toml) and then
// from its flags, which win, and validates it with JsonFields, so a typo is an error.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "oryx/dist/world.h"
#include "oryx/schedule/train_sampler.h"
#include "oryx/train/adamw.h"

namespace oryx {

// Synthetic MQAR training (data = "mqar"; train/data_source.h, eval/mqar.h).
struct MqarTrainOptions {
  int64_t vocab = 8192;                             // ids used, [0, vocab); <= the model's vocab_size
  std::vector<int64_t> pairs = {4, 8, 16, 32, 64};  // sequence i has pairs[i % n] key-value pairs
  double power_a = 0.01;                            // query positions ~ (s+1)^(a-1)
  bool zero_filler = false;                         // filler id 0 instead of random ids
};

struct TrainOptions {
  // What to train, on what, where.
  std::string config;            // model config (JSON); on resume, the checkpoint's is used
  std::string data;              // dataset folder written by `oryx prepare`, or "mqar"
  MqarTrainOptions mqar;         // data = "mqar" only
  std::string out;               // run folder: metrics.jsonl, ckpt/, final/, plots
  int64_t tokens = 0;            // the token budget: training stops exactly here
  // Batching.
  int64_t batch_size = 8;        // sequences per micro-batch
  int64_t seq_len = 512;
  int64_t grad_accum = 1;        // micro-batches per optimizer step
  // Optimisation.
  AdamWOptions adamw;
  double min_lr_ratio = 0.1;     // cosine decay ends at min_lr_ratio * lr
  int64_t warmup_tokens = 0;     // linear warm-up length
  double grad_clip = 1.0;        // max global gradient norm; 0 = off
  // Mixed-mode schedule sampler (Oryx models only; pure-mode models ignore it).
  TrainScheduleOptions schedule;
  // Evaluation, logging, checkpoints.
  int64_t eval_every = 0;        // steps between evaluations; 0 = ten per run
  int64_t eval_windows = 32;     // validation windows per evaluation (0 = the whole split);
                                 // data = "mqar": held-out examples (0 = 1024)
  std::vector<std::string> eval_schedules;  // default: all-A, all-L, every:2:<chunk> (Oryx)
  int64_t log_every = 10;        // steps between metrics records
  int64_t save_every = 0;        // steps between checkpoints; 0 = at the end (and on signals)
  int64_t max_steps = 0;         // stop (with a checkpoint) after this many steps of this
                                 // invocation; 0 = run to the budget. For training in slices.
  // Machine.
  uint64_t seed = 1;             // weights, data order and mode sampler
  std::string device = "auto";
  std::string precision = "auto";  // auto: bf16 autocast on CUDA, fp32 on CPU; or fp32, bf16
  int64_t threads = 0;           // CPU threads for torch (0 = its default; divided among the
                                 // processes of a run on one machine)
  int64_t dist_timeout = kRendezvousTimeout.count();  // seconds a data-parallel run waits for its rendezvous
                                 // (dist/world.h) before giving up with an error
  bool resume = false;           // continue from <out>/ckpt
  bool overwrite = false;        // replace the run in a non-empty <out> (train/run_folder.h);
                                 // command line only: never read from or written to run files
  bool plot = false;             // write <out>/loss.png at the end (needs gnuplot)
};

// Parses and validates (unknown keys, wrong types and bad values name the key and `where`).
TrainOptions train_options_from_json(const nlohmann::json& j, const std::string& where);
nlohmann::json train_options_to_json(const TrainOptions& o);

// Reads a run file: .json, or .toml (converted to JSON first).
nlohmann::json train_run_file_read(const std::string& path);

}  // namespace oryx
