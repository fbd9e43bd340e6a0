#include "oryx/eval/mc.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include "oryx/common/error.h"
#include "oryx/common/gzip_file.h"
#include "oryx/eval/loss.h"

namespace oryx {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int64_t kDefaultUncondOffset = 1000000;

struct TaskConfig {
  std::string name, primary_metric;
  int64_t uncond_offset = kDefaultUncondOffset;
};

TaskConfig read_config(const std::string& path) {
  TaskConfig c;
  std::ifstream in(path);
  ORYX_CHECK(in.good(), "cannot open ", path);
  const json j = json::parse(in, nullptr, false);
  ORYX_CHECK(!j.is_discarded() && j.is_object(), path, ": malformed JSON (expected an object)");
  if (j.contains("task_name") && j["task_name"].is_string()) c.name = j["task_name"].get<std::string>();
  if (j.contains("task_config") && j["task_config"].is_object()) {
    const auto& tc = j["task_config"];
    if (tc.contains("primary_metric") && tc["primary_metric"].is_string())
      c.primary_metric = tc["primary_metric"].get<std::string>();
    if (tc.contains("metric_kwargs") && tc["metric_kwargs"].is_object()) {
      const auto& mk = tc["metric_kwargs"];
      if (mk.contains("uncond_docid_offset") && mk["uncond_docid_offset"].is_number_integer())
        c.uncond_offset = mk["uncond_docid_offset"].get<int64_t>();
    }
  }
  return c;
}

std::string requests_in(const fs::path& dir) {
  std::error_code ec;
  for (const char* name : {"requests.jsonl.gz", "requests.jsonl"})
    if (fs::is_regular_file(dir / name, ec)) return (dir / name).string();
  return "";
}

// One parsed line.
struct Line {
  int64_t doc_id = 0;
  McRequest req;
  json label;
};

Line parse_line(const std::string& text, const std::string& where) {
  const json j = json::parse(text, nullptr, false);
  ORYX_CHECK(!j.is_discarded(), where, ": malformed JSON");
  ORYX_CHECK(j.is_object(), where, ": expected a JSON object, got ", j.type_name());
  auto field = [&](const json& obj, const char* key, const std::string& name) -> const json& {
    auto it = obj.find(key);
    ORYX_CHECK(it != obj.end(), where, ": missing field '", name, "'");
    return *it;
  };
  auto integer = [&](const char* key) {
    const json& v = field(j, key, key);
    ORYX_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0, where, ": field '", key,
               "' must be a non-negative integer, got ", v.dump());
    return v.get<int64_t>();
  };
  if (auto it = j.find("request_type"); it != j.end())
    ORYX_CHECK(*it == "loglikelihood" || *it == "generate_until_and_loglikelihood", where,
               ": request_type must be loglikelihood, got ", it->dump());
  Line l;
  l.doc_id = integer("doc_id");
  l.req.idx = integer("idx");
  const json& request = field(j, "request", "request");
  ORYX_CHECK(request.is_object(), where, ": field 'request' must be an object, got ", request.type_name());
  for (const char* key : {"context", "continuation"}) {
    const json& v = field(request, key, std::string("request.") + key);
    ORYX_CHECK(v.is_string(), where, ": field 'request.", key, "' must be a string, got ", v.type_name());
  }
  l.req.context = request["context"].get<std::string>();
  l.req.continuation = request["continuation"].get<std::string>();
  ORYX_CHECK(!l.req.continuation.empty(), where, ": field 'request.continuation' is empty");
  l.label = field(j, "label", "label");
  ORYX_CHECK(l.label.is_null() || l.label.is_string() || l.label.is_array() ||
                 (l.label.is_number_integer() && l.label.get<int64_t>() >= 0),
             where, ": field 'label' must be a choice index (integer >= 0) or a list of answers, got ",
             l.label.dump());
  return l;
}

int64_t utf8_chars(const std::string& s) {
  return std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

}  // namespace

std::vector<std::string> mc_find_tasks(const std::string& path) {
  std::error_code ec;
  ORYX_CHECK(fs::exists(path, ec), "mc: task path not found: ", path);
  if (fs::is_regular_file(path, ec) || !requests_in(path).empty()) return {path};
  std::vector<std::string> found;
  for (const auto& e : fs::recursive_directory_iterator(path, ec))
    if (e.is_directory() && !requests_in(e.path()).empty()) found.push_back(e.path().string());
  std::sort(found.begin(), found.end());
  ORYX_CHECK(!found.empty(), "mc: no task files (requests.jsonl or requests.jsonl.gz) under ", path);
  return found;
}

McTask mc_load(const std::string& path, const std::string& metric, int64_t max_docs) {
  ORYX_CHECK(metric == "auto" || metric == "acc" || metric == "bpb", "mc: metric must be auto, acc or bpb, got '",
             metric, "'");
  std::error_code ec;
  McTask task;
  fs::path config_path;
  if (fs::is_directory(path, ec)) {
    task.file = requests_in(path);
    ORYX_CHECK(!task.file.empty(), "mc: ", path, " holds no requests.jsonl or requests.jsonl.gz");
    const fs::path dir = fs::path(path).lexically_normal();
    const fs::path leaf = dir.filename().empty() ? dir.parent_path() : dir;
    task.name = leaf.parent_path().filename().string() + "/" + leaf.filename().string();
    config_path = leaf / "config.json";
  } else {
    task.file = path;
    std::string stem = fs::path(path).filename().string();
    for (const char* ext : {".gz", ".jsonl", ".json"})
      if (stem.size() > std::strlen(ext) && stem.compare(stem.size() - std::strlen(ext), std::string::npos, ext) == 0)
        stem.resize(stem.size() - std::strlen(ext));
    task.name = stem;
    config_path = fs::path(path).parent_path() / "config.json";
  }
  TaskConfig config;
  if (fs::is_regular_file(config_path, ec)) config = read_config(config_path.string());
  task.primary_metric = config.primary_metric;

  struct Pending {
    McDoc doc;
    json label;
    int64_t first_line = 0;
  };
  std::vector<Pending> docs;
  std::unordered_map<int64_t, size_t> index;
  GzipFile reader(task.file);  // plain or gzip-compressed
  std::string text;
  bool list_labels = false;
  for (int64_t line_no = 1; reader.getline(text); ++line_no) {
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = task.file + ":" + std::to_string(line_no);
    Line l = parse_line(text, where);
    l.req.line = line_no;
    if (l.doc_id >= config.uncond_offset) {
      ++task.skipped_unconditional;
      continue;
    }
    auto [it, fresh] = index.emplace(l.doc_id, docs.size());
    if (fresh) docs.push_back({McDoc{l.doc_id, 0, {}}, l.label, line_no});
    Pending& p = docs[it->second];
    ORYX_CHECK(p.label == l.label, where, ": label ", l.label.dump(), " differs from ", p.label.dump(),
               " given for doc_id ", l.doc_id, " at line ", p.first_line);
    for (const auto& c : p.doc.choices)
      ORYX_CHECK(c.idx != l.req.idx, where, ": doc_id ", l.doc_id, " has a second choice idx ", l.req.idx,
                 " (the first is at line ", c.line, ")");
    list_labels |= l.label.is_array() || l.label.is_string();
    p.doc.choices.push_back(std::move(l.req));
  }
  ORYX_CHECK(!docs.empty(), task.file, ": no requests");
  task.bpb = metric == "bpb" ||
             (metric == "auto" && (config.primary_metric == "logits_per_byte" || list_labels));
  if (max_docs > 0 && static_cast<int64_t>(docs.size()) > max_docs) docs.resize(static_cast<size_t>(max_docs));

  for (auto& p : docs) {
    auto& d = p.doc;
    const std::string where = task.file + ":" + std::to_string(p.first_line);
    std::sort(d.choices.begin(), d.choices.end(), [](const auto& a, const auto& b) { return a.idx < b.idx; });
    for (size_t i = 0; i < d.choices.size(); ++i)
      ORYX_CHECK(d.choices[i].idx == static_cast<int64_t>(i), where, ": doc_id ", d.doc_id,
                 " has no choice idx ", i, " (choices must be numbered 0, 1, 2, ...)");
    const auto n = static_cast<int64_t>(d.choices.size());
    if (p.label.is_number_integer()) {
      d.label = p.label.get<int64_t>();
      ORYX_CHECK(d.label < n, where, ": label ", d.label, " is not one of doc_id ", d.doc_id, "'s ", n, " choices");
    } else {
      ORYX_CHECK(task.bpb, where, ": label ", p.label.dump(),
                 " is not a choice index; multiple-choice scoring needs an integer label");
      d.label = 0;  // a list of reference answers: the request (idx 0) is the gold text
    }
    if (task.bpb) {
      d.choices = {d.choices[static_cast<size_t>(d.label)]};
      d.label = 0;
    }
    task.requests += static_cast<int64_t>(d.choices.size());
    task.docs.push_back(std::move(d));
  }
  if (!config.name.empty()) {
    const auto slash = task.name.find('/');
    task.name = config.name + (slash == std::string::npos ? "" : task.name.substr(slash));
  }
  return task;
}

nlohmann::json McResult::to_json() const {
  json j = {{"task", "mc"},
            {"name", name},
            {"file", file},
            {"schedule", schedule},
            {"attention_fraction", attention_fraction()},
            {"kind", bpb_task ? "bpb" : "multiple_choice"},
            {"examples", docs},
            {"requests", requests},
            {"skipped_unconditional", skipped_unconditional},
            {"truncated", truncated},
            {"norm", norm},
            {"bpb", bpb},
            {"primary_metric", primary_metric},
            {"primary", primary},
            {"tokens_fed", fed},
            {"tokens_a", fed_a}};
  j["acc"] = bpb_task ? json() : json(acc);
  j["acc_norm"] = bpb_task ? json() : json(acc_norm);
  return j;
}

McResult mc_eval(OryxModel& model, const Tokenizer& tok, const McTask& task, const McOptions& o,
                 const Schedule& schedule) {
  ORYX_CHECK(o.norm == "bytes" || o.norm == "chars" || o.norm == "tokens",
             "mc: norm must be bytes, chars or tokens, got '", o.norm, "'");
  const int64_t max_len = model->config().max_seq_len;
  const int64_t limit = o.max_context > 0 ? std::min(o.max_context, max_len) : max_len;
  McResult r;
  r.name = task.name;
  r.file = task.file;
  r.schedule = eval_schedule_name(schedule);
  r.norm = o.norm;
  r.bpb_task = task.bpb;
  r.docs = static_cast<int64_t>(task.docs.size());
  r.requests = task.requests;
  r.skipped_unconditional = task.skipped_unconditional;

  std::vector<ScoredSequence> seqs;
  std::vector<double> lengths;  // acc_norm's divisor per request
  for (const auto& d : task.docs) {
    for (const auto& c : d.choices) {
      const std::string where = task.file + ":" + std::to_string(c.line);
      std::vector<int64_t> query;
      if (o.prepend_eod) query.push_back(tok.eod_id());
      const auto ctx = tok.encode(c.context);
      query.insert(query.end(), ctx.begin(), ctx.end());
      const auto cont = tok.encode(c.continuation);
      ORYX_CHECK(!query.empty(), where, ": empty context; scoring the first continuation token needs a "
                 "context (or the end-of-document prefix)");
      ORYX_CHECK(static_cast<int64_t>(cont.size()) <= limit, where, ": the continuation's ", cont.size(),
                 " tokens do not fit the context limit of ", limit);
      query.insert(query.end(), cont.begin(), cont.end() - 1);
      if (static_cast<int64_t>(query.size()) > limit) {
        query.erase(query.begin(), query.end() - limit);
        ++r.truncated;
      }
      ScoredSequence s;
      s.prompt_len = static_cast<int64_t>(query.size());
      s.targets.assign(query.size(), kIgnoreIndex);
      std::copy(cont.begin(), cont.end(), s.targets.end() - static_cast<std::ptrdiff_t>(cont.size()));
      s.tokens = std::move(query);
      seqs.push_back(std::move(s));
      lengths.push_back(o.norm == "bytes"   ? static_cast<double>(c.continuation.size())
                        : o.norm == "chars" ? static_cast<double>(utf8_chars(c.continuation))
                                            : static_cast<double>(cont.size()));
    }
  }
  // Opened before scoring: an unwritable path fails before the work, not after.
  std::ofstream out;
  if (!o.request_scores.empty()) {
    out.open(o.request_scores, std::ios::app);
    ORYX_CHECK(out.good(), "--request-scores: cannot write '", o.request_scores, "'");
  }
  ScoreOptions so = o.score;
  if (!so.progress_label.empty()) so.progress_label += " " + task.name;
  const auto scores = score_sequences(model, seqs, schedule, so);

  if (out.is_open()) {
    size_t i = 0;
    for (const auto& d : task.docs)
      for (const auto& c : d.choices) {
        const auto& s = scores[i];
        const auto scored = std::count_if(seqs[i].targets.begin(), seqs[i].targets.end(),
                                          [](int64_t t) { return t != kIgnoreIndex; });
        out << nlohmann::json{{"task", task.name},         {"schedule", r.schedule},
                              {"doc_id", d.doc_id},        {"idx", c.idx},
                              {"log_likelihood", s.log_likelihood}, {"tokens", scored}}
                   .dump()
            << "\n";
        ++i;
      }
    ORYX_CHECK(out.good(), "--request-scores: writing '", o.request_scores, "' failed");
  }
  size_t k = 0;
  double acc = 0, acc_norm = 0, bpb = 0;
  for (const auto& d : task.docs) {
    size_t best = 0, best_norm = 0;
    for (size_t i = 0; i < d.choices.size(); ++i) {
      const auto& s = scores[k + i];
      r.fed += s.fed;
      r.fed_a += s.fed_a;
      if (s.log_likelihood > scores[k + best].log_likelihood) best = i;
      if (s.log_likelihood / lengths[k + i] > scores[k + best_norm].log_likelihood / lengths[k + best_norm])
        best_norm = i;
    }
    const auto gold = static_cast<size_t>(d.label);
    acc += best == gold;
    acc_norm += best_norm == gold;
    bpb += -scores[k + gold].log_likelihood / std::log(2.0) /
           static_cast<double>(d.choices[gold].continuation.size());
    k += d.choices.size();
  }
  const auto n = static_cast<double>(task.docs.size());
  r.acc = acc / n;
  r.acc_norm = acc_norm / n;
  r.bpb = bpb / n;
  // The config's metric names where we compute it; otherwise ours.
  const std::string& pm = task.primary_metric;
  if (task.bpb) {
    r.primary_metric = pm == "logits_per_byte" ? pm : "bpb";
    r.primary = r.bpb;
  } else if (pm == "acc_per_char") {
    r.primary_metric = pm;
    r.primary = r.acc_norm;
  } else {
    r.primary_metric = pm == "acc_raw" ? pm : "acc";
    r.primary = r.acc;
  }
  return r;
}

}  // namespace oryx
