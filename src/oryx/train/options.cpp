#include "oryx/train/options.h"

#include <fstream>
#include <toml++/toml.h>

#include "oryx/common/error.h"
#include "oryx/common/json_fields.h"
#include "oryx/common/json_parse.h"
#include "oryx/config/model_config.h"

namespace oryx {

namespace {

// Upper bounds of the sizes and counts a run sets (docs/limits.md): far above any real run,
// low enough that products such as tokens per step fit in int64 and that a typo fails here,
// naming the key, instead of in the allocator or an endless loop.
constexpr int64_t kMaxTokens = int64_t(1) << 50;
constexpr int64_t kMaxBatch = 65536;
constexpr int64_t kMaxMicroBatchTokens = int64_t(1) << 24;
constexpr int64_t kMaxSteps = int64_t(1) << 40;
constexpr int64_t kMaxEvalWindows = int64_t(1) << 20;
constexpr int64_t kMaxThreads = 1024;

}  // namespace

TrainOptions train_options_from_json(const nlohmann::json& j, const std::string& where) {
  JsonFields f(j, where);
  TrainOptions o;
  o.config = f.str("config", "");
  o.data = f.str("data", "");
  o.mqar.vocab = f.int_in("mqar_vocab", o.mqar.vocab, 1, kMaxVocabSize);
  if (f.has("mqar_pairs")) {
    const auto& p = f.raw("mqar_pairs");
    ORYX_CHECK(p.is_array() && !p.empty(), where, ": key 'mqar_pairs' must be a non-empty list of pair counts");
    o.mqar.pairs.clear();
    for (const auto& e : p) {
      ORYX_CHECK(e.is_number_integer() && e.get<int64_t>() > 0 && e.get<int64_t>() <= kMaxSequenceLength, where,
                 ": key 'mqar_pairs' must hold integers in [1, ", kMaxSequenceLength, "], got ", e.dump());
      o.mqar.pairs.push_back(e.get<int64_t>());
    }
  }
  o.mqar.power_a = f.positive_number("mqar_power_a", o.mqar.power_a, 100.0);
  o.mqar.zero_filler = f.boolean("mqar_zero_filler", o.mqar.zero_filler);
  const bool mqar_keys = f.has("mqar_vocab") || f.has("mqar_pairs") || f.has("mqar_power_a") ||
                         f.has("mqar_zero_filler");
  o.out = f.str("out", "");
  o.tokens = f.int_in("tokens", 1, kMaxTokens);
  o.batch_size = f.int_in("batch_size", o.batch_size, 1, kMaxBatch);
  o.seq_len = f.int_in("seq_len", o.seq_len, 1, kMaxSequenceLength);
  o.grad_accum = f.int_in("grad_accum", o.grad_accum, 1, kMaxBatch);
  // Within these bounds no product overflows: tokens per step stay below 2^40.
  ORYX_CHECK(o.batch_size * o.seq_len <= kMaxMicroBatchTokens, where, ": batch_size x seq_len (", o.batch_size,
             " x ", o.seq_len, ") exceeds ", kMaxMicroBatchTokens, " tokens per micro-batch");
  o.adamw.lr = f.positive_number("lr", o.adamw.lr, 100.0);
  o.adamw.beta1 = f.fraction("beta1", o.adamw.beta1);
  o.adamw.beta2 = f.fraction("beta2", o.adamw.beta2);
  o.adamw.eps = f.positive_number("eps", o.adamw.eps, 1.0);
  o.adamw.weight_decay = f.number_in("weight_decay", o.adamw.weight_decay, 0, 100);
  o.adamw.decay_embeddings = f.boolean("decay_embeddings", o.adamw.decay_embeddings);
  o.min_lr_ratio = f.fraction("min_lr_ratio", o.min_lr_ratio);
  o.warmup_tokens = f.int_in("warmup_tokens", o.warmup_tokens, 0, kMaxTokens);
  o.grad_clip = f.number_in("grad_clip", o.grad_clip, 0, 1e9);
  o.schedule.chunk = f.int_in("schedule_chunk", o.schedule.chunk, 1, kMaxSequenceLength);
  o.schedule.p_all_a = f.fraction("p_all_a", o.schedule.p_all_a);
  o.schedule.p_all_l = f.fraction("p_all_l", o.schedule.p_all_l);
  o.eval_every = f.int_in("eval_every", o.eval_every, 0, kMaxSteps);
  o.eval_windows = f.int_in("eval_windows", o.eval_windows, 0, kMaxEvalWindows);
  if (f.has("eval_schedules")) {
    const auto& s = f.raw("eval_schedules");
    ORYX_CHECK(s.is_array(), where, ": key 'eval_schedules' must be a list of schedule strings");
    for (const auto& e : s) {
      ORYX_CHECK(e.is_string(), where, ": key 'eval_schedules' must hold strings, got ", e.dump());
      o.eval_schedules.push_back(e.get<std::string>());
    }
  }
  o.log_every = f.int_in("log_every", o.log_every, 1, kMaxSteps);
  o.save_every = f.int_in("save_every", o.save_every, 0, kMaxSteps);
  o.max_steps = f.int_in("max_steps", o.max_steps, 0, kMaxSteps);
  o.seed = static_cast<uint64_t>(f.nonnegative_int("seed", static_cast<int64_t>(o.seed)));
  o.device = f.str("device", o.device);
  o.precision = f.choice("precision", {"auto", "fp32", "bf16"}, o.precision);
  o.threads = f.int_in("threads", o.threads, 0, kMaxThreads);
  o.dist_timeout = f.int_in("dist_timeout", o.dist_timeout, 1, 86400);
  o.resume = f.boolean("resume", o.resume);
  o.plot = f.boolean("plot", o.plot);
  f.reject_unknown();
  ORYX_CHECK(!o.data.empty(), where, ": key 'data' is required (a folder from `oryx prepare`, or \"mqar\")");
  ORYX_CHECK(o.data == "mqar" || !mqar_keys, where, ": keys 'mqar_*' apply only to data = \"mqar\", but data is '",
             o.data, "'");
  ORYX_CHECK(!o.out.empty(), where, ": key 'out' is required (the run folder)");
  ORYX_CHECK(o.adamw.weight_decay >= 0, where, ": key 'weight_decay' must be >= 0");
  ORYX_CHECK(o.grad_clip >= 0, where, ": key 'grad_clip' must be >= 0 (0 = off)");
  ORYX_CHECK(o.adamw.beta1 < 1 && o.adamw.beta2 < 1, where, ": keys 'beta1', 'beta2' must be < 1");
  ORYX_CHECK(o.schedule.p_all_a + o.schedule.p_all_l <= 1, where,
             ": keys 'p_all_a' + 'p_all_l' must be at most 1");
  ORYX_CHECK(o.tokens % o.seq_len == 0, where, ": key 'tokens' (", o.tokens,
             ") must be a multiple of seq_len (", o.seq_len, "), e.g. ", (o.tokens / o.seq_len + 1) * o.seq_len,
             ", so that the run stops exactly at the budget");
  return o;
}

nlohmann::json train_options_to_json(const TrainOptions& o) {
  nlohmann::json j = {{"config", o.config},
          {"data", o.data},
          {"out", o.out},
          {"tokens", o.tokens},
          {"batch_size", o.batch_size},
          {"seq_len", o.seq_len},
          {"grad_accum", o.grad_accum},
          {"lr", o.adamw.lr},
          {"beta1", o.adamw.beta1},
          {"beta2", o.adamw.beta2},
          {"eps", o.adamw.eps},
          {"weight_decay", o.adamw.weight_decay},
          {"decay_embeddings", o.adamw.decay_embeddings},
          {"min_lr_ratio", o.min_lr_ratio},
          {"warmup_tokens", o.warmup_tokens},
          {"grad_clip", o.grad_clip},
          {"schedule_chunk", o.schedule.chunk},
          {"p_all_a", o.schedule.p_all_a},
          {"p_all_l", o.schedule.p_all_l},
          {"eval_every", o.eval_every},
          {"eval_windows", o.eval_windows},
          {"eval_schedules", o.eval_schedules},
          {"log_every", o.log_every},
          {"save_every", o.save_every},
          {"max_steps", o.max_steps},
          {"seed", o.seed},
          {"device", o.device},
          {"precision", o.precision},
          {"threads", o.threads},
          {"dist_timeout", o.dist_timeout},
          {"resume", o.resume},
          {"plot", o.plot}};
  // Written only where they apply, so that the object parses back (train_options_from_json).
  if (o.data == "mqar")
    j.update({{"mqar_vocab", o.mqar.vocab},
              {"mqar_pairs", o.mqar.pairs},
              {"mqar_power_a", o.mqar.power_a},
              {"mqar_zero_filler", o.mqar.zero_filler}});
  return j;
}

namespace {

nlohmann::json toml_to_json(const toml::node& node, const std::string& where) {
  if (auto* t = node.as_table()) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [k, v] : *t) j[std::string(k.str())] = toml_to_json(v, where);
    return j;
  }
  if (auto* a = node.as_array()) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& v : *a) j.push_back(toml_to_json(v, where));
    return j;
  }
  if (auto v = node.value<bool>(); node.is_boolean()) return *v;
  if (auto v = node.value<int64_t>(); node.is_integer()) return *v;
  if (auto v = node.value<double>(); node.is_floating_point()) return *v;
  if (auto v = node.value<std::string>(); node.is_string()) return *v;
  ORYX_FAIL(where, ": unsupported TOML value (dates and times are not options)");
}

}  // namespace

nlohmann::json train_run_file_read(const std::string& path) {
  check_readable_file(path, "run file");
  std::ifstream in(path);
  ORYX_CHECK(in.good(), "cannot open run file '", path, "'");
  bool toml_file = path.size() > 5 && path.substr(path.size() - 5) == ".toml";
  if (toml_file) {
    try {
      return toml_to_json(toml::parse(in, path), path);
    } catch (const toml::parse_error& e) {
      ORYX_FAIL(path, ":", e.source().begin.line, ": malformed TOML: ", e.description());
    }
  }
  return json_parse_strict(in, path);
}

}  // namespace oryx
