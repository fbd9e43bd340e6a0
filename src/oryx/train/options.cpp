#include "oryx/train/options.h"

#include <fstream>
#include <toml++/toml.h>

#include "oryx/common/error.h"
#include "oryx/common/json_fields.h"

namespace oryx {

TrainOptions train_options_from_json(const nlohmann::json& j, const std::string& where) {
  JsonFields f(j, where);
  TrainOptions o;
  o.config = f.str("config", "");
  o.data = f.str("data", "");
  o.mqar.vocab = f.positive_int("mqar_vocab", o.mqar.vocab);
  if (f.has("mqar_pairs")) {
    const auto& p = f.raw("mqar_pairs");
    ORYX_CHECK(p.is_array() && !p.empty(), where, ": key 'mqar_pairs' must be a non-empty list of pair counts");
    o.mqar.pairs.clear();
    for (const auto& e : p) {
      ORYX_CHECK(e.is_number_integer() && e.get<int64_t>() > 0, where,
                 ": key 'mqar_pairs' must hold positive integers, got ", e.dump());
      o.mqar.pairs.push_back(e.get<int64_t>());
    }
  }
  o.mqar.power_a = f.positive_number("mqar_power_a", o.mqar.power_a);
  o.mqar.zero_filler = f.boolean("mqar_zero_filler", o.mqar.zero_filler);
  const bool mqar_keys = f.has("mqar_vocab") || f.has("mqar_pairs") || f.has("mqar_power_a") ||
                         f.has("mqar_zero_filler");
  o.out = f.str("out", "");
  o.tokens = f.positive_int("tokens");
  o.batch_size = f.positive_int("batch_size", o.batch_size);
  o.seq_len = f.positive_int("seq_len", o.seq_len);
  o.grad_accum = f.positive_int("grad_accum", o.grad_accum);
  o.adamw.lr = f.positive_number("lr", o.adamw.lr);
  o.adamw.beta1 = f.fraction("beta1", o.adamw.beta1);
  o.adamw.beta2 = f.fraction("beta2", o.adamw.beta2);
  o.adamw.eps = f.positive_number("eps", o.adamw.eps);
  o.adamw.weight_decay = f.number("weight_decay", o.adamw.weight_decay);
  o.adamw.decay_embeddings = f.boolean("decay_embeddings", o.adamw.decay_embeddings);
  o.min_lr_ratio = f.fraction("min_lr_ratio", o.min_lr_ratio);
  o.warmup_tokens = f.nonnegative_int("warmup_tokens", o.warmup_tokens);
  o.grad_clip = f.number("grad_clip", o.grad_clip);
  o.schedule.chunk = f.positive_int("schedule_chunk", o.schedule.chunk);
  o.schedule.p_all_a = f.fraction("p_all_a", o.schedule.p_all_a);
  o.schedule.p_all_l = f.fraction("p_all_l", o.schedule.p_all_l);
  o.eval_every = f.nonnegative_int("eval_every", o.eval_every);
  o.eval_windows = f.nonnegative_int("eval_windows", o.eval_windows);
  if (f.has("eval_schedules")) {
    const auto& s = f.raw("eval_schedules");
    ORYX_CHECK(s.is_array(), where, ": key 'eval_schedules' must be a list of schedule strings");
    for (const auto& e : s) {
      ORYX_CHECK(e.is_string(), where, ": key 'eval_schedules' must hold strings, got ", e.dump());
      o.eval_schedules.push_back(e.get<std::string>());
    }
  }
  o.log_every = f.positive_int("log_every", o.log_every);
  o.save_every = f.nonnegative_int("save_every", o.save_every);
  o.max_steps = f.nonnegative_int("max_steps", o.max_steps);
  o.seed = static_cast<uint64_t>(f.nonnegative_int("seed", static_cast<int64_t>(o.seed)));
  o.device = f.str("device", o.device);
  o.precision = f.choice("precision", {"auto", "fp32", "bf16"}, o.precision);
  o.threads = f.nonnegative_int("threads", o.threads);
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
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    ORYX_FAIL(path, ": malformed JSON: ", e.what());
  }
}

}  // namespace oryx
