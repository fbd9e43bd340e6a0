#include "oryx/train/data_source.h"

#include <cmath>
#include <optional>

#include "oryx/common/error.h"
#include "oryx/data/shard.h"
#include "oryx/eval/loss.h"
#include "oryx/eval/mqar.h"
#include "oryx/eval/rng.h"
#include "oryx/eval/score.h"

namespace oryx {

namespace {

nlohmann::json loss_record(double nll, int64_t tokens, int64_t fed, int64_t fed_a) {
  const double loss = tokens ? nll / static_cast<double>(tokens) : 0.0;
  return {{"loss", loss},
          {"perplexity", std::exp(loss)},
          {"attention_fraction", fed ? static_cast<double>(fed_a) / static_cast<double>(fed) : 0.0},
          {"tokens", tokens}};
}

class DatasetSource final : public TrainDataSource {
 public:
  DatasetSource(const TrainOptions& o, int64_t rank, int64_t world_size)
      : o_(o), ds_(dataset_open(o.data)), loader_(ds_, "train", o.batch_size, o.seq_len, o.seed, rank, world_size) {}

  int64_t vocab_size() const override { return ds_.vocab_size; }
  std::string tokenizer_spec() const override { return ds_.tokenizer_spec(); }
  Batch next() override { return loader_.next(); }
  nlohmann::json state() const override { return loader_.state(); }
  void restore(const nlohmann::json& state) override { loader_.restore(state); }
  bool has_validation() const override { return ds_.splits.count("val") > 0; }

  nlohmann::json validate(OryxModel& model, const Schedule& schedule) override {
    if (!val_) val_.emplace(ds_, "val", o_.batch_size, o_.seq_len, o_.eval_windows);
    const EvalLoss r = eval_loss(model, *val_, schedule);
    return loss_record(r.nll, r.tokens, r.fed, r.fed_a);
  }

 private:
  TrainOptions o_;
  Dataset ds_;
  BatchLoader loader_;
  std::optional<EvalWindows> val_;
};

// Tags that give training and validation examples seeds of their own (eval/rng.h).
constexpr uint64_t kMqarTrainTag = 0x747261696e;  // "train"
constexpr uint64_t kMqarValTag = 0x76616c;        // "val"

MqarOptions mqar_example_options(const TrainOptions& o, int64_t index, uint64_t tag) {
  MqarOptions m;
  m.vocab = o.mqar.vocab;
  m.seq_len = o.seq_len;
  m.pairs = o.mqar.pairs[static_cast<size_t>(index % static_cast<int64_t>(o.mqar.pairs.size()))];
  m.power_a = o.mqar.power_a;
  m.noise_filler = !o.mqar.zero_filler;
  m.seed = eval_stream_seed(o.seed, {tag});
  return m;
}

class MqarSource final : public TrainDataSource {
 public:
  MqarSource(const TrainOptions& o, int64_t rank, int64_t world_size) : o_(o), rank_(rank), world_size_(world_size) {
    for (size_t i = 0; i < o.mqar.pairs.size(); ++i) {
      try {
        mqar_check(mqar_train_example_options(o, static_cast<int64_t>(i)));
      } catch (const Error& e) {
        ORYX_FAIL("data = \"mqar\" with seq_len ", o.seq_len, ": ", e.what());
      }
    }
  }

  int64_t vocab_size() const override { return o_.mqar.vocab; }
  std::string tokenizer_spec() const override { return ""; }

  Batch next() override {
    Batch b = mqar_batch([this](int64_t i) { return mqar_train_example_options(o_, i); }, o_.batch_size,
                         next_index_ + rank_ * o_.batch_size);
    next_index_ += o_.batch_size * world_size_;
    return b;
  }

  nlohmann::json state() const override {
    return {{"mqar_next_example", next_index_}, {"seq_len", o_.seq_len}, {"seed", o_.seed}};
  }
  void restore(const nlohmann::json& state) override {
    try {
      ORYX_CHECK(state.at("seq_len").get<int64_t>() == o_.seq_len && state.at("seed").get<uint64_t>() == o_.seed,
                 "the checkpoint's MQAR stream had seq_len ", state.at("seq_len").dump(), " and seed ",
                 state.at("seed").dump(), ", this run has ", o_.seq_len, " and ", o_.seed);
      next_index_ = state.at("mqar_next_example").get<int64_t>();
    } catch (const nlohmann::json::exception& e) {
      ORYX_FAIL("the checkpoint's data position is not an MQAR stream (was it trained on a dataset?): ", e.what());
    }
  }

  bool has_validation() const override { return true; }

  nlohmann::json validate(OryxModel& model, const Schedule& schedule) override {
    if (val_.empty()) {
      const int64_t n = o_.eval_windows > 0 ? o_.eval_windows : 1024;
      for (int64_t i = 0; i < n; ++i) {
        auto ex = mqar_example(mqar_validation_example_options(o_, i), i);
        val_.push_back({std::move(ex.inputs), std::move(ex.targets), o_.seq_len});
      }
    }
    ScoreOptions so;
    so.batch = o_.batch_size;
    so.vocab_limit = o_.mqar.vocab;
    double nll = 0;
    int64_t targets = 0, correct = 0, fed = 0, fed_a = 0;
    for (const auto& s : score_sequences(model, val_, schedule, so)) {
      nll -= s.log_likelihood;
      targets += s.targets;
      correct += s.correct;
      fed += s.fed;
      fed_a += s.fed_a;
    }
    auto rec = loss_record(nll, targets, fed, fed_a);
    rec["accuracy"] = targets ? static_cast<double>(correct) / static_cast<double>(targets) : 0.0;
    return rec;
  }

 private:
  TrainOptions o_;
  int64_t rank_, world_size_;
  int64_t next_index_ = 0;  // the global micro-batch's first example
  std::vector<ScoredSequence> val_;
};

}  // namespace

MqarOptions mqar_train_example_options(const TrainOptions& o, int64_t index) {
  return mqar_example_options(o, index, kMqarTrainTag);
}

MqarOptions mqar_validation_example_options(const TrainOptions& o, int64_t index) {
  return mqar_example_options(o, index, kMqarValTag);
}

std::unique_ptr<TrainDataSource> train_data_open(const TrainOptions& o, int64_t rank, int64_t world_size) {
  if (o.data == "mqar") return std::make_unique<MqarSource>(o, rank, world_size);
  return std::make_unique<DatasetSource>(o, rank, world_size);
}

}  // namespace oryx
