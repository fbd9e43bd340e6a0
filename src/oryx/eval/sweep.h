// Schedule sweeps: run one task under a list of schedules and collect its result rows, each
// of which names its schedule and the attention fraction actually used (tokens fed in mode A
// over all tokens fed). This is the library entry point for a study driver:
//
//   auto rows = sweep_run(sweep_parse("default", model->config()), sweep_mqar(model, opts));
//   auto table = sweep_summary(rows);   // one line per schedule: attention fraction, accuracy
//
// The default sweep goes from all-L to all-A through last-N-A and every-Nth-chunk:
//   all-L; last:16; last:64; last:256; every:8; every:4; every:2; all-A
// (every:N uses chunks of 64 tokens). For a transformer it is all-A only, for a linear model
// all-L only: the other schedules are impossible for them.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "oryx/data/tokenizer.h"
#include "oryx/eval/kv.h"
#include "oryx/eval/mqar.h"
#include "oryx/eval/niah.h"

namespace oryx {

std::vector<std::string> sweep_default_specs();

// "S1;S2;..." (each as schedule_parse takes it), or "default" for the default sweep
// (restricted to the schedules `config`'s model kind accepts).
std::vector<Schedule> sweep_parse(const std::string& list, const ModelConfig& config);

// A task run under one schedule, returning its rows as JSON.
using SweepTask = std::function<std::vector<nlohmann::json>(const Schedule&)>;

// Rows of every schedule, in order. Each row must carry "schedule" and "attention_fraction".
std::vector<nlohmann::json> sweep_run(const std::vector<Schedule>& schedules, const SweepTask& task);

// One row per schedule, in first-appearance order, from rows that carry "schedule",
// "tokens_fed", "tokens_a", "examples" and "accuracy":
//   {"schedule", "attention_fraction" (over all tokens fed), "accuracy" (mean over all
//    examples), "examples", "groups" (rows merged)}
std::vector<nlohmann::json> sweep_summary(const std::vector<nlohmann::json>& rows);

// The retrieval tasks as sweep tasks. The returned function refers to its arguments, which
// must outlive it.
SweepTask sweep_mqar(OryxModel& model, const MqarEvalOptions& o);
SweepTask sweep_niah(OryxModel& model, const Tokenizer& tok, const NiahHaystack& hay, const NiahOptions& o);
SweepTask sweep_kv(OryxModel& model, const Tokenizer& tok, const KvOptions& o);

}  // namespace oryx
