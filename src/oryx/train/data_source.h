// Where a training run's batches come from (TrainOptions::data):
//
//   a dataset folder  windows of its "train" split (data/loader.h), validated on windows
//                     of its "val" split;
//   "mqar"            synthetic multi-query associative recall (eval/mqar.h), the way
//                     zoology trains recall: a fresh example for every sequence, the number
//                     of pairs cycling through TrainOptions::mqar.pairs, the loss on the
//                     query targets only. Validated on a fixed held-out set, with accuracy.
//
// MQAR training, validation and `oryx eval --task mqar` draw from three different seeds
// (training and validation derive theirs from the run seed and a tag; eval uses its own
// --seed), so no example that is evaluated was trained on.
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "oryx/data/loader.h"
#include "oryx/eval/mqar.h"
#include "oryx/model/model.h"
#include "oryx/schedule/schedule.h"
#include "oryx/train/options.h"

namespace oryx {

class TrainDataSource {
 public:
  virtual ~TrainDataSource() = default;

  virtual int64_t vocab_size() const = 0;           // ids the data uses: [0, vocab_size)
  virtual std::string tokenizer_spec() const = 0;    // for the checkpoint ("" = none)

  virtual Batch next() = 0;                          // [batch_size, seq_len] on the CPU
  // The position in the data; restore() continues exactly where state() was taken.
  virtual nlohmann::json state() const = 0;
  virtual void restore(const nlohmann::json& state) = 0;

  virtual bool has_validation() const = 0;
  // Validation under one schedule: {"loss", "perplexity", "attention_fraction", "tokens"},
  // plus {"accuracy"} for MQAR. Leaves the model's train/eval flag alone.
  virtual nlohmann::json validate(OryxModel& model, const Schedule& schedule) = 0;
};

// Opens the source `o.data` names; throws oryx::Error naming the problem. In a data-parallel
// run of `world_size` processes the global micro-batch holds batch_size * world_size
// sequences, in the order one process with that batch size reads them, and next() returns
// rows [rank * batch_size, (rank + 1) * batch_size) of it. state() is the global position,
// the same on every rank.
std::unique_ptr<TrainDataSource> train_data_open(const TrainOptions& o, int64_t rank = 0, int64_t world_size = 1);

// The MQAR settings of training example `index` of a run (exposed for tests).
MqarOptions mqar_train_example_options(const TrainOptions& o, int64_t index);
// ... and of held-out validation example `index`.
MqarOptions mqar_validation_example_options(const TrainOptions& o, int64_t index);

}  // namespace oryx
