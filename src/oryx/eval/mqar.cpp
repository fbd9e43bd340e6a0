#include "oryx/eval/mqar.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "oryx/common/error.h"
#include "oryx/eval/loss.h"
#include "oryx/eval/rng.h"

namespace oryx {

namespace {

int64_t key_count(const MqarOptions& o) { return (o.vocab - 1) / 2; }

// `n` distinct ids from [lo, lo+range) in random order (a partial Fisher-Yates shuffle).
std::vector<int64_t> distinct(EvalRng& rng, int64_t lo, int64_t range, int64_t n) {
  std::vector<int64_t> pool(static_cast<size_t>(range));
  std::iota(pool.begin(), pool.end(), lo);
  for (int64_t i = 0; i < n; ++i)
    std::swap(pool[static_cast<size_t>(i)],
              pool[static_cast<size_t>(i + static_cast<int64_t>(rng.below(static_cast<uint64_t>(range - i))))]);
  pool.resize(static_cast<size_t>(n));
  return pool;
}

// `n` distinct slots of [0, slots), slot s with weight (s+1)^(a-1), drawn without
// replacement by Efraimidis-Spirakis: the n largest of log(u_s)/w_s, in that order.
std::vector<int64_t> query_slots(EvalRng& rng, int64_t slots, int64_t n, double power_a) {
  std::vector<std::pair<double, int64_t>> keyed(static_cast<size_t>(slots));
  for (int64_t s = 0; s < slots; ++s) {
    const double w = std::pow(static_cast<double>(s + 1), power_a - 1.0);
    keyed[static_cast<size_t>(s)] = {std::log(rng.unit()) / w, s};
  }
  std::partial_sort(keyed.begin(), keyed.begin() + n, keyed.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = keyed[static_cast<size_t>(i)].second;
  return out;
}

}  // namespace

void mqar_check(const MqarOptions& o) {
  ORYX_CHECK(o.vocab >= 3, "mqar: vocab must be at least 3, got ", o.vocab);
  ORYX_CHECK(o.pairs >= 1, "mqar: pairs must be at least 1, got ", o.pairs);
  ORYX_CHECK(o.pairs <= key_count(o), "mqar: ", o.pairs, " pairs need at least ", 2 * o.pairs + 1,
             " ids (distinct keys and values), vocab is ", o.vocab);
  ORYX_CHECK(4 * o.pairs <= o.seq_len, "mqar: ", o.pairs, " pairs need seq_len >= 4 * pairs = ",
             4 * o.pairs, ", got ", o.seq_len);
  ORYX_CHECK(o.power_a > 0 && std::isfinite(o.power_a), "mqar: power_a must be positive, got ", o.power_a);
}

MqarExample mqar_example(const MqarOptions& o, int64_t index) {
  mqar_check(o);
  EvalRng rng(eval_stream_seed(o.seed, {static_cast<uint64_t>(o.vocab), static_cast<uint64_t>(o.seq_len),
                                        static_cast<uint64_t>(o.pairs), static_cast<uint64_t>(index)}));
  const int64_t N = o.pairs, T = o.seq_len, K = key_count(o);
  const auto keys = distinct(rng, 1, K, N);
  const auto values = distinct(rng, 1 + K, o.vocab - 1 - K, N);
  const auto slots = query_slots(rng, (T - 2 * N) / 2, N, o.power_a);

  MqarExample ex;
  ex.inputs.assign(static_cast<size_t>(T), 0);
  ex.targets.assign(static_cast<size_t>(T), kIgnoreIndex);
  std::vector<bool> query_at(static_cast<size_t>(T), false);
  for (int64_t i = 0; i < N; ++i) {
    ex.inputs[static_cast<size_t>(2 * i)] = keys[static_cast<size_t>(i)];
    ex.inputs[static_cast<size_t>(2 * i + 1)] = values[static_cast<size_t>(i)];
    const auto at = static_cast<size_t>(2 * N + 2 * slots[static_cast<size_t>(i)]);
    ex.inputs[at] = keys[static_cast<size_t>(i)];
    ex.targets[at] = values[static_cast<size_t>(i)];
    query_at[at] = true;
  }
  if (o.noise_filler) {
    std::vector<bool> taken(static_cast<size_t>(o.vocab), false);
    for (int64_t i = 0; i < N; ++i) {
      taken[static_cast<size_t>(keys[static_cast<size_t>(i)])] = true;
      taken[static_cast<size_t>(values[static_cast<size_t>(i)])] = true;
    }
    for (int64_t t = 2 * N; t < T; ++t) {
      if (query_at[static_cast<size_t>(t)]) continue;
      int64_t id;
      do id = static_cast<int64_t>(rng.below(static_cast<uint64_t>(o.vocab)));
      while (taken[static_cast<size_t>(id)]);
      ex.inputs[static_cast<size_t>(t)] = id;
    }
  }
  return ex;
}

Batch mqar_batch(const MqarOptions& o, int64_t batch, int64_t first_index) {
  return mqar_batch([&o](int64_t) { return o; }, batch, first_index);
}

Batch mqar_batch(const std::function<MqarOptions(int64_t index)>& options_of, int64_t batch, int64_t first_index) {
  ORYX_CHECK(batch >= 1, "mqar: batch must be at least 1, got ", batch);
  const int64_t T = options_of(first_index).seq_len;
  Batch b;
  b.inputs = torch::empty({batch, T}, torch::kLong);
  b.targets = torch::empty({batch, T}, torch::kLong);
  const size_t row_bytes = static_cast<size_t>(T) * sizeof(int64_t);
  for (int64_t r = 0; r < batch; ++r) {
    const MqarOptions o = options_of(first_index + r);
    ORYX_CHECK(o.seq_len == T, "mqar: example ", first_index + r, " has seq_len ", o.seq_len, ", the batch ", T);
    const auto ex = mqar_example(o, first_index + r);
    std::memcpy(b.inputs[r].data_ptr<int64_t>(), ex.inputs.data(), row_bytes);
    std::memcpy(b.targets[r].data_ptr<int64_t>(), ex.targets.data(), row_bytes);
  }
  return b;
}

nlohmann::json MqarRow::to_json() const {
  return {{"task", "mqar"},
          {"schedule", schedule},
          {"attention_fraction", attention_fraction()},
          {"pairs", pairs},
          {"seq_len", seq_len},
          {"vocab", vocab},
          {"examples", examples},
          {"queries", queries},
          {"accuracy", accuracy},
          {"example_accuracy", example_accuracy},
          {"tokens_fed", fed},
          {"tokens_a", fed_a}};
}

namespace {

// `schedule` null: A at the query keys, L elsewhere.
std::vector<MqarRow> mqar_rows(OryxModel& model, const MqarEvalOptions& o, const Schedule* schedule) {
  ORYX_CHECK(o.examples >= 1, "mqar: examples must be at least 1, got ", o.examples);
  ORYX_CHECK(!o.pairs.empty(), "mqar: no pair counts given");
  ORYX_CHECK(o.task.vocab <= model->config().vocab_size, "mqar: vocab ", o.task.vocab,
             " exceeds the model's vocab_size of ", model->config().vocab_size);
  std::vector<MqarRow> rows;
  for (int64_t pairs : o.pairs) {
    MqarOptions task = o.task;
    task.pairs = pairs;
    mqar_check(task);
    std::vector<ScoredSequence> seqs;
    for (int64_t i = 0; i < o.examples; ++i) {
      auto ex = mqar_example(task, i);
      std::vector<bool> modes;
      if (!schedule)
        for (int64_t t : ex.targets) modes.push_back(t != kIgnoreIndex);
      seqs.push_back({std::move(ex.inputs), std::move(ex.targets), task.seq_len, std::move(modes)});
    }
    ScoreOptions so = o.score;
    so.vocab_limit = task.vocab;
    if (!so.progress_label.empty()) so.progress_label += " pairs=" + std::to_string(pairs);
    // Without a schedule every sequence carries its own modes; the one passed is not read.
    const auto scores = score_sequences(model, seqs, schedule ? *schedule : Schedule{}, so);
    MqarRow row;
    row.schedule = schedule ? eval_schedule_name(*schedule) : kMqarAttendQueries;
    row.pairs = pairs;
    row.seq_len = task.seq_len;
    row.vocab = task.vocab;
    row.examples = o.examples;
    int64_t correct = 0, exact = 0;
    for (const auto& s : scores) {
      row.queries += s.targets;
      correct += s.correct;
      exact += s.exact();
      row.fed += s.fed;
      row.fed_a += s.fed_a;
    }
    row.accuracy = static_cast<double>(correct) / static_cast<double>(row.queries);
    row.example_accuracy = static_cast<double>(exact) / static_cast<double>(o.examples);
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

std::vector<MqarRow> mqar_eval(OryxModel& model, const MqarEvalOptions& o, const Schedule& schedule) {
  return mqar_rows(model, o, &schedule);
}

std::vector<MqarRow> mqar_eval_attend_queries(OryxModel& model, const MqarEvalOptions& o) {
  ORYX_CHECK(model->config().kind == ModelKind::Oryx, "mqar: attention at the queries needs an Oryx model; ",
             model->config().name, " has one mode");
  return mqar_rows(model, o, nullptr);
}

}  // namespace oryx
