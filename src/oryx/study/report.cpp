#include "oryx/study/report.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include "oryx/common/atomic_file.h"
#include "oryx/common/error.h"
#include "oryx/config/param_count.h"
#include "oryx/eval/sweep.h"
#include "oryx/train/metrics.h"
#include "oryx/train/plot.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace oryx {

namespace {

constexpr double kMatchNats = 0.02;   // (a)/(b): "matches" within this many nats
constexpr double kFractionBar = 0.10; // (c): the paper's claim
constexpr double kMinBar = 0.10;      // (c): below this the Transformer has not learnt the task

struct ModelResult {
  const StudyModel* plan = nullptr;
  ModelConfig config;
  ParamCounts params;
  bool trained = false;
  std::string metrics;                 // path, "" if none
  json last_train, last_eval;          // last records of each kind in metrics.jsonl
  double train_seconds = 0;
  double median_tokens_per_s = 0;
  std::map<std::string, json> evals;   // eval name -> `oryx eval --json` output
};

std::string fmt(double v, int digits = 4) {
  if (!std::isfinite(v)) return "nan";
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(digits);
  os << v;
  return os.str();
}

std::string signed_fmt(double v) { return (v >= 0 ? "+" : "") + fmt(v); }

std::string kind_name(const ModelConfig& c) {
  if (c.kind == ModelKind::Transformer) return "transformer";
  if (c.kind == ModelKind::Linear) return to_string(c.linear);
  return std::string("oryx-") + to_string(c.linear);
}

ModelResult load_model(const StudyModel& m, const std::string& out) {
  ModelResult r;
  r.plan = &m;
  r.config = config_load(m.config);
  r.config.weights.clear();
  r.params = config_param_counts(r.config);
  const std::string dir = out + "/" + m.name;
  r.trained = fs::is_regular_file(dir + "/final/config.json");
  if (fs::is_regular_file(dir + "/metrics.jsonl")) {
    r.metrics = dir + "/metrics.jsonl";
    std::vector<double> rates;
    for (auto& rec : metrics_read(r.metrics)) {
      const std::string kind = rec.value("kind", "");
      if (kind == "train") {
        r.last_train = rec;
        if (rec.contains("tokens_per_s") && rec["tokens_per_s"].is_number() && rec["step"].get<int64_t>() > 1)
          rates.push_back(rec["tokens_per_s"].get<double>());
      } else if (kind == "eval") {
        r.last_eval = rec;
      }
    }
    if (!rates.empty()) {
      std::sort(rates.begin(), rates.end());
      r.median_tokens_per_s = rates[rates.size() / 2];
    }
  }
  // The training job's summary: its time, and whether it finished (results copied without
  // their checkpoints, e.g. from a GPU machine, have no final/ but say so here).
  std::ifstream summary(dir + "/logs/train.out");
  if (summary) {
    try {
      const json s = json::parse(summary);
      r.train_seconds = s.value("seconds", 0.0);
      r.trained = r.trained || s.value("finished", false);
    } catch (const json::exception&) {
      // an interrupted job's summary: the time stays unknown
    }
  }
  for (const auto& e : fs::is_directory(dir + "/evals") ? fs::directory_iterator(dir + "/evals")
                                                       : fs::directory_iterator()) {
    if (e.path().extension() != ".json") continue;
    std::ifstream in(e.path());
    try {
      r.evals[e.path().stem().string()] = json::parse(in);
    } catch (const json::exception& ex) {
      std::cerr << "[study] ignoring " << e.path().string() << ": not JSON (" << ex.what() << ")\n";
    }
  }
  return r;
}

// Validation loss per schedule: the first ppl eval's rows, else the training metrics' last
// evaluation. Each entry: schedule -> {loss, attention_fraction}.
std::map<std::string, std::pair<double, double>> val_losses(const ModelResult& r, const StudyPlan& plan,
                                                           std::string& source) {
  std::map<std::string, std::pair<double, double>> out;
  for (const auto& e : plan.evals) {
    if (e.task != "ppl" || !r.evals.count(e.name)) continue;
    for (const auto& row : r.evals.at(e.name)["rows"])
      out[row["schedule"].get<std::string>()] = {row["loss"].get<double>(), row["attention_fraction"].get<double>()};
    source = "eval " + e.name;
    return out;
  }
  if (r.last_eval.contains("eval")) {
    for (auto& [s, v] : r.last_eval["eval"].items())
      out[s] = {v["loss"].get<double>(), v.value("attention_fraction", std::nan(""))};
    source = "training metrics, last evaluation";
  }
  return out;
}

const ModelResult* find_kind(const std::vector<ModelResult>& models, ModelKind kind, LinearKind linear) {
  for (const auto& m : models)
    if (m.config.kind == kind && (kind == ModelKind::Transformer || m.config.linear == linear)) return &m;
  return nullptr;
}

// Means over the tasks of an mc eval, per schedule, of one kind of primary metric: accuracy
// ("acc*", higher is better) or bits per byte (the bpb tasks, lower is better). The two are
// never averaged together.
bool is_accuracy(const json& row) { return row.value("primary_metric", std::string()).rfind("acc", 0) == 0; }

std::map<std::string, double> mc_means(const json& eval, bool accuracy) {
  std::map<std::string, std::pair<double, int>> acc;
  for (const auto& row : eval["rows"]) {
    if (is_accuracy(row) != accuracy) continue;
    auto& a = acc[row["schedule"].get<std::string>()];
    a.first += row.value("primary", 0.0);
    a.second += 1;
  }
  std::map<std::string, double> out;
  for (auto& [s, a] : acc) out[s] = a.second ? a.first / a.second : std::nan("");
  return out;
}

std::string verdict(double oryx, double baseline) {
  if (oryx < baseline - kMatchNats) return "beats";
  if (oryx <= baseline + kMatchNats) return "matches";
  return "worse";
}

void write_table(std::ostream& md, const std::vector<std::string>& head,
                 const std::vector<std::vector<std::string>>& rows) {
  md << "|";
  for (const auto& h : head) md << " " << h << " |";
  md << "\n|";
  for (size_t i = 0; i < head.size(); ++i) md << "---|";
  md << "\n";
  for (const auto& r : rows) {
    md << "|";
    for (const auto& c : r) md << " " << c << " |";
    md << "\n";
  }
  md << "\n";
}

}  // namespace

std::string study_report(const StudyPlan& plan, const std::string& out) {
  std::vector<ModelResult> models;
  for (const auto& m : plan.models) models.push_back(load_model(m, out));
  json results = {{"plan", plan.path}, {"train", plan.train}, {"models", json::array()}};

  std::ostringstream md;
  const std::time_t now = std::time(nullptr);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  md << "# Study results\n\nPlan `" << plan.path << "`, results folder `" << out << "`, written " << when
     << ". Every model was trained with the same options:\n\n```json\n" << plan.train.dump() << "\n```\n\n";

  // ---- models ----
  md << "## Models\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : models) {
    const bool has_train = !r.last_train.is_null();
    rows.push_back({r.plan->name, kind_name(r.config), fmt(r.params.total / 1e6, 1) + "M",
                    r.config.kind == ModelKind::Oryx ? fmt(r.params.shared_fraction(), 3) : "-",
                    r.trained ? "done" : has_train ? "partial" : "not started",
                    has_train ? std::to_string(r.last_train["tokens"].get<int64_t>()) : "-",
                    has_train ? fmt(r.last_train["loss"].get<double>()) : "-",
                    r.median_tokens_per_s > 0 ? fmt(r.median_tokens_per_s / 1e3, 1) + "k" : "-",
                    r.train_seconds > 0 ? fmt(r.train_seconds, 0) : "-"});
    results["models"].push_back({{"name", r.plan->name},
                                 {"config", r.plan->config},
                                 {"kind", kind_name(r.config)},
                                 {"params", r.params.total},
                                 {"shared_fraction", r.params.shared_fraction()},
                                 {"trained", r.trained},
                                 {"last_train", r.last_train},
                                 {"last_eval", r.last_eval},
                                 {"median_tokens_per_s", r.median_tokens_per_s},
                                 {"train_seconds", r.train_seconds},
                                 {"evals", r.evals}});
  }
  write_table(md, {"model", "kind", "params", "shared", "training", "tokens", "last train loss", "tok/s", "seconds"},
              rows);

  std::vector<std::string> metrics_files;
  for (const auto& r : models)
    if (!r.metrics.empty()) metrics_files.push_back(r.metrics);
  if (!metrics_files.empty()) {
    try {
      plot_metrics(metrics_files, out + "/loss.png");
      md << "![loss curves](loss.png)\n\n";
    } catch (const Error& e) {
      md << "(no loss plot: " << e.what() << ")\n\n";
    }
  }

  // ---- each eval ----
  for (const auto& e : plan.evals) {
    md << "## Eval `" << e.name << "` (" << e.task << ")\n\n`oryx eval";
    for (const auto& a : e.args) md << " " << a;
    md << "`, schedules: " << e.schedules << " (transformer: all-A, linear: all-L)\n\n";
    if (e.task == "ppl") {
      rows.clear();
      for (const auto& r : models) {
        if (!r.evals.count(e.name)) { rows.push_back({r.plan->name, "missing", "", "", "", ""}); continue; }
        for (const auto& row : r.evals.at(e.name)["rows"])
          rows.push_back({r.plan->name, row["schedule"].get<std::string>(), fmt(row["attention_fraction"].get<double>(), 3),
                          fmt(row["loss"].get<double>()), fmt(row["perplexity"].get<double>(), 2),
                          row.contains("bits_per_byte") && row["bits_per_byte"].is_number()
                              ? fmt(row["bits_per_byte"].get<double>()) : "-"});
      }
      write_table(md, {"model", "schedule", "attn frac", "loss", "ppl", "bpb"}, rows);
    } else if (e.task == "mc") {
      // Rows: tasks; columns: model / schedule; values: each task's primary metric.
      std::vector<std::string> head = {"task"};
      std::vector<std::pair<const ModelResult*, std::string>> cols;
      std::vector<std::string> task_names;
      for (const auto& r : models) {
        if (!r.evals.count(e.name)) continue;
        for (const auto& row : r.evals.at(e.name)["rows"]) {
          const std::string s = row["schedule"], t = row["name"];
          if (std::find(cols.begin(), cols.end(), std::make_pair(&r, s)) == cols.end()) {
            cols.push_back({&r, s});
            head.push_back(r.plan->name + " " + s);
          }
          if (std::find(task_names.begin(), task_names.end(), t) == task_names.end()) task_names.push_back(t);
        }
      }
      rows.clear();
      for (const auto& t : task_names) {
        std::vector<std::string> line = {t};
        for (const auto& [r, s] : cols) {
          std::string v = "-";
          for (const auto& row : r->evals.at(e.name)["rows"])
            if (row["name"] == t && row["schedule"] == s)
              v = fmt(row.value("primary", 0.0)) + " " + row.value("primary_metric", std::string());
          line.push_back(v);
        }
        rows.push_back(line);
      }
      for (bool accuracy : {true, false}) {
        std::vector<std::string> mean = {accuracy ? "**mean accuracy**" : "**mean bpb**"};
        for (const auto& [r, s] : cols) {
          auto m = mc_means(r->evals.at(e.name), accuracy);
          mean.push_back(m.count(s) ? "**" + fmt(m[s]) + "**" : "-");
        }
        rows.push_back(mean);
      }
      if (cols.empty()) md << "(no results yet)\n\n"; else write_table(md, head, rows);
    } else {
      PlotSpec spec{"eval " + e.name + " (" + e.task + "): accuracy against attention fraction",
                    "attention fraction (tokens in mode A / tokens fed)", "accuracy", false, true, {}};
      rows.clear();
      for (const auto& r : models) {
        if (!r.evals.count(e.name)) { rows.push_back({r.plan->name, "missing", "", "", ""}); continue; }
        // Schedules placed by position form the model's curve; attention placed by content
        // (a schedule named "A@...") is a point of its own, not a step on that curve. A
        // single-mode model has one point: drawn as a level line, the bar to compare with.
        PlotSeries by_position{r.plan->name, {}, {}}, by_content{r.plan->name + " A@content", {}, {}};
        auto summary = sweep_summary(r.evals.at(e.name)["rows"].get<std::vector<json>>());
        std::sort(summary.begin(), summary.end(), [](const json& a, const json& b) {
          return a["attention_fraction"].get<double>() < b["attention_fraction"].get<double>();
        });
        for (const auto& s : summary) {
          const std::string schedule = s["schedule"];
          rows.push_back({r.plan->name, schedule, fmt(s["attention_fraction"].get<double>(), 4),
                          fmt(s["accuracy"].get<double>()), std::to_string(s["examples"].get<int64_t>())});
          auto& series = schedule.rfind("A@", 0) == 0 ? by_content : by_position;
          series.x.push_back(s["attention_fraction"].get<double>());
          series.y.push_back(s["accuracy"].get<double>());
        }
        if (summary.size() == 1) {
          by_position.name += " (" + summary[0]["schedule"].get<std::string>() + ")";
          by_position.x = {0.0, 1.0};
          by_position.y.push_back(by_position.y[0]);
        }
        for (auto* series : {&by_position, &by_content})
          if (!series->x.empty()) spec.series.push_back(*series);
      }
      write_table(md, {"model", "schedule", "attn frac", "accuracy", "examples"}, rows);
      if (!spec.series.empty()) {
        try {
          plot_render(spec, out + "/" + e.name + ".png");
          md << "![" << e.name << "](" << e.name << ".png)\n\n";
        } catch (const Error& ex) {
          md << "(no plot: " << ex.what() << ")\n\n";
        }
      }
    }
  }

  // ---- the questions ----
  md << "## Answers\n\nRules (fixed in src/oryx/study/report.h before any result): \"matches\" = validation loss "
        "within " << kMatchNats << " nats of the baseline, \"beats\" = lower by more; (c) takes the Transformer's "
        "accuracy as the bar and reports the smallest attention fraction at which the Oryx model reaches it; a bar "
        "below " << kMinBar << " accuracy means the task is not learnt and gives no conclusion.\n\n";
  const ModelResult* transformer = find_kind(models, ModelKind::Transformer, LinearKind::None);
  json answers = json::array();
  bool any_oryx = false;
  for (const auto& r : models) {
    if (r.config.kind != ModelKind::Oryx) continue;
    any_oryx = true;
    const ModelResult* linear = find_kind(models, ModelKind::Linear, r.config.linear);
    md << "### " << r.plan->name << "\n\n";
    std::string src, src_t, src_l;
    const auto own = val_losses(r, plan, src);
    const auto t_loss = transformer ? val_losses(*transformer, plan, src_t) : decltype(own){};
    const auto l_loss = linear ? val_losses(*linear, plan, src_l) : decltype(own){};
    // NaN when the baseline has no result (yet).
    const double t_val = t_loss.count("all-A") ? t_loss.at("all-A").first : std::nan("");
    const double l_val = l_loss.count("all-L") ? l_loss.at("all-L").first : std::nan("");
    const bool lt = !std::isnan(t_val), ll = !std::isnan(l_val);
    json a = {{"model", r.plan->name}};
    if (own.empty()) {
      md << "(a), (b): no validation loss yet.\n\n";
    } else {
      md << "(a) and (b), validation loss (" << src << "):\n\n";
      rows.clear();
      for (const auto& [s, v] : own) {
        std::vector<std::string> line = {s, fmt(v.second, 3), fmt(v.first)};
        line.push_back(lt ? signed_fmt(v.first - t_val) + " (" + verdict(v.first, t_val) + ")" : "-");
        line.push_back(ll ? signed_fmt(v.first - l_val) + " (" + verdict(v.first, l_val) + ")" : "-");
        rows.push_back(line);
        a["val_loss"][s] = {{"loss", v.first},
                            {"attention_fraction", v.second},
                            {"vs_transformer", lt ? json(v.first - t_val) : json()},
                            {"vs_linear", ll ? json(v.first - l_val) : json()}};
      }
      write_table(md, {"schedule", "attn frac", "loss",
                       "vs transformer" + (lt ? " (" + fmt(t_val) + ")" : std::string(" (missing)")),
                       "vs " + std::string(to_string(r.config.linear)) + (ll ? " (" + fmt(l_val) + ")" : std::string(" (missing)"))},
                  rows);
      if (own.count("all-A") && lt)
        md << "(b) all-A is " << signed_fmt(own.at("all-A").first - t_val) << " nats from the Transformer ("
           << verdict(own.at("all-A").first, t_val) << ")";
      if (own.count("all-L") && ll)
        md << "; all-L is " << signed_fmt(own.at("all-L").first - l_val) << " nats from " << to_string(r.config.linear)
           << " (" << verdict(own.at("all-L").first, l_val) << ")";
      md << ".\n\n";
    }
    for (const auto& e : plan.evals) {
      if (e.task != "mc" || !r.evals.count(e.name)) continue;
      for (bool accuracy : {true, false}) {
        const auto own_means = mc_means(r.evals.at(e.name), accuracy);
        if (own_means.empty()) continue;
        md << "(a) zero-shot, eval " << e.name << ", "
           << (accuracy ? "mean accuracy (higher is better): " : "mean bits per byte of the bpb tasks (lower is better): ");
        for (auto& [s, v] : own_means) md << s << " " << fmt(v) << "; ";
        if (transformer && transformer->evals.count(e.name))
          md << "transformer " << fmt(mc_means(transformer->evals.at(e.name), accuracy)["all-A"]) << "; ";
        if (linear && linear->evals.count(e.name))
          md << to_string(r.config.linear) << " " << fmt(mc_means(linear->evals.at(e.name), accuracy)["all-L"]);
        md << ".\n\n";
        a["mc"][e.name][accuracy ? "mean_accuracy" : "mean_bpb"] = own_means;
      }
    }
    for (const auto& e : plan.evals) {
      if (e.task == "ppl" || e.task == "mc") continue;
      if (!r.evals.count(e.name) || !transformer || !transformer->evals.count(e.name)) {
        md << "(c) " << e.name << ": results missing.\n\n";
        continue;
      }
      const auto bar_rows = sweep_summary(transformer->evals.at(e.name)["rows"].get<std::vector<json>>());
      const double bar = bar_rows.empty() ? std::nan("") : bar_rows[0]["accuracy"].get<double>();
      if (!(bar >= kMinBar)) {
        md << "(c) " << e.name << ": the Transformer's accuracy is " << fmt(bar) << ", below " << kMinBar
           << ": the task is not learnt at this scale, so there is no bar to reach (no conclusion).\n\n";
        a["retrieval"][e.name] = {{"transformer_accuracy", bar}, {"informative", false}};
        continue;
      }
      auto summary = sweep_summary(r.evals.at(e.name)["rows"].get<std::vector<json>>());
      std::optional<double> reached;
      std::string at;
      for (const auto& s : summary) {
        const double f = s["attention_fraction"].get<double>();
        if (s["accuracy"].get<double>() >= bar && (!reached || f < *reached)) {
          reached = f;
          at = s["schedule"].get<std::string>();
        }
      }
      md << "(c) " << e.name << ": the Transformer's accuracy is " << fmt(bar) << "; ";
      if (reached)
        md << r.plan->name << " reaches it at attention fraction " << fmt(*reached, 4) << " (" << at << "), "
           << (*reached < kFractionBar ? "under" : "not under") << " 10%.\n\n";
      else
        md << r.plan->name << " does not reach it under any schedule tried.\n\n";
      a["retrieval"][e.name] = {{"transformer_accuracy", bar},
                                {"fraction_reaching", reached ? json(*reached) : json()},
                                {"schedule", at},
                                {"under_10_percent", reached && *reached < kFractionBar},
                                {"informative", true}};
    }
    answers.push_back(a);
  }
  if (!any_oryx) md << "(no Oryx model in the plan)\n";
  results["answers"] = answers;

  atomic_write_text(out + "/results.md", md.str());
  atomic_write_text(out + "/results.json", results.dump(2) + "\n");
  return out + "/results.md";
}

}  // namespace oryx
