#include "oryx/eval/sweep.h"

#include <map>
#include <sstream>

#include "oryx/common/error.h"

namespace oryx {

namespace {

template <typename Row>
std::vector<nlohmann::json> to_json_rows(const std::vector<Row>& rows) {
  std::vector<nlohmann::json> out;
  for (const auto& r : rows) out.push_back(r.to_json());
  return out;
}

}  // namespace

std::vector<std::string> sweep_default_specs() {
  return {"all-L", "last:16", "last:64", "last:256", "every:8", "every:4", "every:2", "all-A"};
}

std::vector<Schedule> sweep_parse(const std::string& list, const ModelConfig& config) {
  std::vector<Schedule> out;
  if (list == "default") {
    if (config.kind == ModelKind::Transformer) return {schedule_parse("all-A")};
    if (config.kind == ModelKind::Linear) return {schedule_parse("all-L")};
    for (const auto& spec : sweep_default_specs()) out.push_back(schedule_parse(spec));
    return out;
  }
  std::stringstream ss(list);
  std::string spec;
  while (std::getline(ss, spec, ';')) {
    const auto b = spec.find_first_not_of(' '), e = spec.find_last_not_of(' ');
    if (b == std::string::npos) continue;
    out.push_back(schedule_parse(spec.substr(b, e - b + 1)));
  }
  ORYX_CHECK(!out.empty(), "no schedules in '", list, "' (separate them with ';', or say default)");
  return out;
}

std::vector<nlohmann::json> sweep_run(const std::vector<Schedule>& schedules, const SweepTask& task) {
  std::vector<nlohmann::json> rows;
  for (const auto& s : schedules) {
    for (auto& row : task(s)) {
      TORCH_INTERNAL_ASSERT(row.contains("schedule") && row.contains("attention_fraction"),
                            "sweep rows must state their schedule and attention fraction");
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

std::vector<nlohmann::json> sweep_summary(const std::vector<nlohmann::json>& rows) {
  struct Sum {
    int64_t fed = 0, fed_a = 0, examples = 0, groups = 0;
    double correct = 0;
  };
  std::vector<std::string> order;
  std::map<std::string, Sum> sums;
  for (const auto& r : rows) {
    for (const char* key : {"schedule", "tokens_fed", "tokens_a", "examples", "accuracy"})
      ORYX_CHECK(r.contains(key), "sweep summary: a row lacks '", key, "'");
    const auto schedule = r["schedule"].get<std::string>();
    if (!sums.count(schedule)) order.push_back(schedule);
    Sum& s = sums[schedule];
    const auto n = r["examples"].get<int64_t>();
    s.fed += r["tokens_fed"].get<int64_t>();
    s.fed_a += r["tokens_a"].get<int64_t>();
    s.examples += n;
    s.correct += r["accuracy"].get<double>() * static_cast<double>(n);
    s.groups += 1;
  }
  std::vector<nlohmann::json> out;
  for (const auto& name : order) {
    const Sum& s = sums[name];
    out.push_back({{"schedule", name},
                   {"attention_fraction", s.fed ? static_cast<double>(s.fed_a) / static_cast<double>(s.fed) : 0.0},
                   {"accuracy", s.examples ? s.correct / static_cast<double>(s.examples) : 0.0},
                   {"examples", s.examples},
                   {"groups", s.groups}});
  }
  return out;
}

SweepTask sweep_mqar(OryxModel& model, const MqarEvalOptions& o) {
  return [&model, &o](const Schedule& s) { return to_json_rows(mqar_eval(model, o, s)); };
}

SweepTask sweep_niah(OryxModel& model, const Tokenizer& tok, const NiahHaystack& hay, const NiahOptions& o) {
  return [&model, &tok, &hay, &o](const Schedule& s) { return to_json_rows(niah_eval(model, tok, hay, o, s)); };
}

SweepTask sweep_kv(OryxModel& model, const Tokenizer& tok, const KvOptions& o) {
  return [&model, &tok, &o](const Schedule& s) { return to_json_rows(kv_eval(model, tok, o, s)); };
}

}  // namespace oryx
