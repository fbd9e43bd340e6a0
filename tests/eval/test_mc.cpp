// Multiple-choice scoring of OLMo in-loop task files: the scorer's choices and metrics match
// log-likelihoods computed here with a plain forward and log-softmax, gzip files read the
// same as plain ones, and bad files are reported with file and line.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

#include "oryx/common/error.h"
#include "oryx/eval/mc.h"
#include "support/models.h"
#include "support/temp_dir.h"

namespace oryx::testing {
namespace {

using nlohmann::json;

struct Choice {
  std::string context, continuation;
};

const std::vector<std::vector<Choice>> kDocs = {
    {{"Question: What color is the sky?\nAnswer:", " blue"},
     {"Question: What color is the sky?\nAnswer:", " green with stripes"},
     {"Question: What color is the sky?\nAnswer:", " red"}},
    {{"The cat sat on the", " mat."}, {"The cat sat on the", " moon, quietly."}},
    {{"Sarah was taller than Maria so Sarah", " reached the shelf."},
     {"Sarah was taller than Maria so Maria", " reached the shelf."}},
};

// log p(continuation | [eod] context) by one plain forward, in fp64.
double plain_log_likelihood(OryxModel& model, const Choice& c, const Schedule& s) {
  ByteTokenizer tok;
  std::vector<int64_t> seq = {tok.eod_id()};
  const auto ctx = tok.encode(c.context), cont = tok.encode(c.continuation);
  seq.insert(seq.end(), ctx.begin(), ctx.end());
  const auto ctx_len = static_cast<int64_t>(seq.size());
  seq.insert(seq.end(), cont.begin(), cont.end() - 1);
  torch::NoGradGuard ng;
  auto logits = model->forward(torch::tensor(seq, torch::kLong).unsqueeze(0),
                               s.prompt_modes(static_cast<int64_t>(seq.size())));
  auto lp = torch::log_softmax(logits[0].to(torch::kFloat64), -1);
  double ll = 0;
  for (size_t i = 0; i < cont.size(); ++i) ll += lp[ctx_len - 1 + static_cast<int64_t>(i)][cont[i]].item<double>();
  return ll;
}

std::string request_line(int64_t doc, int64_t idx, const Choice& c, const json& label) {
  return json{{"request_type", "loglikelihood"},
              {"doc_id", doc},
              {"idx", idx},
              {"label", label},
              {"request", {{"context", c.context}, {"continuation", c.continuation}}},
              {"doc", {{"query", c.context}}}}
      .dump();
}

void write_gz(const std::string& path, const std::string& text) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
  gzclose(f);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(EvalMc, ScoresMatchIndependentLogLikelihoods) {
  TempDir dir;
  auto model = model_create(shipped_config("oryx-gdn-tiny"), 9);
  ByteTokenizer tok;
  for (const char* spec : {"all-A", "every:2:8"}) {
    const Schedule s = schedule_parse(spec);
    // The gold label of docs 0 and 1 is the plain forward's best choice; doc 2's is its worst,
    // so acc must be exactly 2/3. acc_norm and bpb follow from the same numbers.
    std::string lines;
    double want_norm = 0, want_bpb = 0;
    for (size_t d = 0; d < kDocs.size(); ++d) {
      std::vector<double> ll, norm;
      for (const auto& c : kDocs[d]) {
        ll.push_back(plain_log_likelihood(model, c, s));
        norm.push_back(ll.back() / static_cast<double>(c.continuation.size()));
      }
      const auto best = static_cast<int64_t>(std::max_element(ll.begin(), ll.end()) - ll.begin());
      const auto worst = static_cast<int64_t>(std::min_element(ll.begin(), ll.end()) - ll.begin());
      const int64_t label = d < 2 ? best : worst;
      want_norm += (std::max_element(norm.begin(), norm.end()) - norm.begin()) == label;
      want_bpb += -ll[static_cast<size_t>(label)] / std::log(2.0) /
                  static_cast<double>(kDocs[d][static_cast<size_t>(label)].continuation.size());
      for (size_t i = 0; i < kDocs[d].size(); ++i)
        lines += request_line(static_cast<int64_t>(d), static_cast<int64_t>(i), kDocs[d][i], label) + "\n";
    }
    std::ofstream(dir.file("hand.jsonl")) << lines;
    write_gz(dir.file("hand.jsonl.gz"), lines);
    McOptions o;
    o.score.batch = 2;
    for (const char* file : {"hand.jsonl", "hand.jsonl.gz"}) {
      const McTask task = mc_load(dir.file(file));
      EXPECT_EQ(task.name, "hand");
      EXPECT_FALSE(task.bpb);
      ASSERT_EQ(task.docs.size(), 3u);
      EXPECT_EQ(task.requests, 7);
      const McResult r = mc_eval(model, tok, task, o, s);
      EXPECT_NEAR(r.acc, 2.0 / 3.0, 1e-12) << spec << " " << file;
      EXPECT_NEAR(r.acc_norm, want_norm / 3, 1e-12);
      EXPECT_NEAR(r.bpb, want_bpb / 3, 1e-4 * want_bpb / 3);
      EXPECT_EQ(r.primary_metric, "acc");
      EXPECT_EQ(r.schedule, spec);
      const auto j = r.to_json();
      EXPECT_EQ(j["schedule"], spec);
      EXPECT_GT(j["tokens_fed"].get<int64_t>(), 0);
      if (std::string(spec) == "all-A") {
        EXPECT_EQ(r.attention_fraction(), 1.0);
      }
    }
  }
}

TEST(EvalMc, OlmoFolderWithConfigAndUnconditionalRequests) {
  TempDir dir;
  const auto task_dir = dir.path() / "arc" / "rc_0shot";
  std::filesystem::create_directories(task_dir);
  std::ofstream((task_dir / "config.json").string())
      << R"({"task_name": "arc", "task_config": {"primary_metric": "acc_per_char",
             "metric_kwargs": {"uncond_docid_offset": 1000000}}})";
  std::string lines;
  for (size_t i = 0; i < kDocs[0].size(); ++i) lines += request_line(0, static_cast<int64_t>(i), kDocs[0][i], 1) + "\n";
  lines += request_line(1000000, 0, {"Answer:", " blue"}, 1) + "\n";
  write_gz((task_dir / "requests.jsonl.gz").string(), lines);
  const auto found = mc_find_tasks(dir.path().string());
  ASSERT_EQ(found.size(), 1u);
  const McTask task = mc_load(found[0]);
  EXPECT_EQ(task.name, "arc/rc_0shot");
  EXPECT_EQ(task.skipped_unconditional, 1);
  EXPECT_EQ(task.requests, 3);
  auto model = model_create(shipped_config("oryx-gdn-tiny"), 9);
  ByteTokenizer tok;
  const McResult r = mc_eval(model, tok, task, McOptions{}, schedule_parse("all-L"));
  EXPECT_EQ(r.primary_metric, "acc_per_char");
  EXPECT_EQ(r.primary, r.acc_norm);
  EXPECT_EQ(r.attention_fraction(), 0.0);
}

TEST(EvalMc, BitsPerByteTaskScoresTheGoldContinuation) {
  TempDir dir;
  const Choice c{"Question: who wrote it?\nAnswer:", " Jane Austen"};
  std::ofstream(dir.file("qa.jsonl")) << request_line(0, 0, c, json::array({"Jane Austen", "Austen"})) << "\n";
  const McTask task = mc_load(dir.file("qa.jsonl"));
  EXPECT_TRUE(task.bpb);
  auto model = model_create(shipped_config("oryx-gdn-tiny"), 9);
  ByteTokenizer tok;
  const McResult r = mc_eval(model, tok, task, McOptions{}, schedule_parse("all-A"));
  const double want = -plain_log_likelihood(model, c, schedule_parse("all-A")) / std::log(2.0) / 12.0;
  EXPECT_NEAR(r.bpb, want, 1e-4 * want);
  EXPECT_EQ(r.primary_metric, "bpb");
  EXPECT_TRUE(r.to_json()["acc"].is_null());
}

TEST(EvalMc, BadFilesAreReportedWithFileAndLine) {
  TempDir dir;
  const std::string good = request_line(0, 0, kDocs[0][0], 0);
  auto expect_error = [&](const std::string& second_line, const std::string& needle, int line = 2) {
    const std::string path = dir.file("bad.jsonl");
    std::ofstream(path) << good << "\n" << second_line << "\n";
    const std::string msg = error_of([&] { mc_load(path); });
    EXPECT_NE(msg.find(path + ":" + std::to_string(line) + ": "), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  };
  json j = json::parse(request_line(0, 1, kDocs[0][1], 0));
  j["request"].erase("continuation");
  expect_error(j.dump(), "missing field 'request.continuation'");
  j = json::parse(request_line(0, 1, kDocs[0][1], 0));
  j["doc_id"] = "zero";
  expect_error(j.dump(), "field 'doc_id' must be a non-negative integer");
  j = json::parse(request_line(0, 1, kDocs[0][1], 0));
  j["request"]["context"] = 5;
  expect_error(j.dump(), "field 'request.context' must be a string");
  j = json::parse(request_line(0, 1, kDocs[0][1], 0));
  j.erase("label");
  expect_error(j.dump(), "missing field 'label'");
  expect_error("{\"doc_id\": 0, ", "malformed JSON");
  expect_error(request_line(0, 1, kDocs[0][1], 1), "differs");             // label disagrees with line 1
  expect_error(request_line(0, 0, kDocs[0][1], 0), "second choice idx 0");  // duplicate idx
  expect_error(request_line(0, 2, kDocs[0][1], 0), "no choice idx 1", 1);   // a gap: reported at the doc's first line
  expect_error(request_line(1, 0, kDocs[0][1], 4), "label 4 is not one of", 2);
}

}  // namespace
}  // namespace oryx::testing
