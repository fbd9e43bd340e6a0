// `oryx study`: plan validation, and a whole tiny study on the CPU (three models, one of them
// trained by two data-parallel processes; a ppl and an MQAR eval) that writes its report and
// resumes without redoing finished work.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "oryx/common/error.h"
#include "oryx/study/plan.h"
#include "oryx/study/study.h"
#include "support/models.h"
#include "support/temp_dir.h"
#include "train/train_fixture.h"

namespace oryx::testing {
namespace {

namespace fs = std::filesystem;

std::string write(const TempDir& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir.file(name)) << text;
  return dir.file(name);
}

std::string plan_text(const std::string& data, const std::string& extra_eval_args = "") {
  return R"(
parallel = 2
[train]
data = ")" + data + R"("
tokens = 2048
batch_size = 4
seq_len = 64
lr = 3e-3
eval_windows = 2
threads = 1
device = "cpu"

[[models]]
name = "transformer"
config = ")" + shipped_config_path("transformer-tiny") + R"("

[[models]]
name = "gdn"
config = ")" + shipped_config_path("gdn-tiny") + R"("

[[models]]
name = "oryx-gdn"
config = ")" + shipped_config_path("oryx-gdn-tiny") + R"("
gpus = 2

[[evals]]
name = "val"
args = ["--task", "ppl", "--data", "{data}", "--max-examples", "2", "--seq-len", "64")" + extra_eval_args + R"(]
schedules = "all-A;all-L;every:2:16"

[[evals]]
name = "mqar"
args = ["--task", "mqar", "--pairs", "2", "--n", "4", "--seq-len", "32", "--vocab", "64"]
schedules = "all-L;last:8;all-A"
)";
}

TEST(StudyPlan, BadPlansAreRefusedNamingTheKey) {
  TempDir dir;
  const std::string data = synthetic_dataset_dir();
  auto expect_error = [&](const std::string& text, const std::string& needle) {
    const std::string path = write(dir, "plan.toml", text);
    try {
      study_plan_load(path);
      ADD_FAILURE() << "accepted a plan that should fail with: " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  };
  EXPECT_NO_THROW(study_plan_load(write(dir, "ok.toml", plan_text(data))));
  expect_error(plan_text(data) + "\ncolour = 3\n", "colour");
  // The oryx-gdn model trains with two processes: a slot of one GPU cannot hold it.
  expect_error("devices = [\"0\", \"1,2\"]\n" + plan_text(data), "asks for gpus = 2 but the slot devices = \"0\" has 1");
  expect_error(plan_text(data, R"(, "--schedules", "all-A")"), "--schedules");
  expect_error("[train]\ntokens = 64\n", "models");
  expect_error(plan_text(data) + "\n[[models]]\nname = \"gdn\"\nconfig = \"" + shipped_config_path("gdn-tiny") + "\"\n",
               "two models named 'gdn'");
  expect_error(plan_text(data) + "\n[[models]]\nname = \"x\"\nconfig = \"no/such.json\"\n", "no/such.json");
  expect_error(plan_text(data) + "\n[[models]]\nname = \"a/b\"\nconfig = \"" + shipped_config_path("gdn-tiny") + "\"\n",
               "a/b");
  std::string typo = plan_text(data);
  typo.replace(typo.find("batch_size"), 10, "batch_sise");
  expect_error(typo, "batch_sise");
}

TEST(StudyPlan, BaselinesRunOnlyTheirOwnMode) {
  StudyEval e;
  e.schedules = "all-L;last:8;all-A";
  EXPECT_EQ(study_schedules_for(e, shipped_config("transformer-tiny")), "all-A");
  EXPECT_EQ(study_schedules_for(e, shipped_config("mamba2-tiny")), "all-L");
  EXPECT_EQ(study_schedules_for(e, shipped_config("oryx-mamba2-tiny")), e.schedules);
}

TEST(StudyRun, TinyStudyWritesReportAndResumes) {
  TempDir dir;
  const std::string plan = write(dir, "plan.toml", plan_text(synthetic_dataset_dir()));
  const std::string out = dir.file("results");
  auto r = run_cli("study --plan " + plan + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("9 job(s) run, 0 already done, 0 failed"), std::string::npos) << r.out;
  for (const char* m : {"transformer", "gdn", "oryx-gdn"}) {
    EXPECT_TRUE(fs::exists(out + "/" + m + "/final/model.safetensors")) << m;
    EXPECT_TRUE(fs::exists(out + "/" + m + "/evals/val.json")) << m;
    EXPECT_TRUE(fs::exists(out + "/" + m + "/evals/mqar.json")) << m;
  }
  auto results = nlohmann::json::parse(std::ifstream(out + "/results.json"));
  ASSERT_EQ(results["models"].size(), 3u);
  // The baselines ran their own mode only; the Oryx model every schedule of the eval.
  EXPECT_EQ(results["models"][0]["evals"]["val"]["rows"].size(), 1u);
  EXPECT_EQ(results["models"][1]["evals"]["mqar"]["rows"][0]["schedule"], "all-L");
  EXPECT_EQ(results["models"][2]["evals"]["val"]["rows"].size(), 3u);
  ASSERT_EQ(results["answers"].size(), 1u);
  const auto& a = results["answers"][0];
  EXPECT_TRUE(a["val_loss"].contains("every:2:16")) << a.dump();
  EXPECT_TRUE(a["val_loss"]["all-A"]["vs_transformer"].is_number()) << a.dump();
  EXPECT_TRUE(a["retrieval"].contains("mqar")) << a.dump();
  std::ifstream md(out + "/results.md");
  const std::string text((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("## Answers"), std::string::npos);
  EXPECT_NE(text.find("(c) mqar"), std::string::npos) << text;

  // Nothing to do the second time; a removed result is recomputed, and only it.
  r = run_cli("study --plan " + plan + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("0 job(s) run, 9 already done"), std::string::npos) << r.out;
  fs::remove(out + "/gdn/evals/mqar.json");
  r = run_cli("study --plan " + plan + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("1 job(s) run, 8 already done"), std::string::npos) << r.out;
}

TEST(StudyRun, FailingJobIsReportedAndTheRestStillRun) {
  TempDir dir;
  std::string text = plan_text(synthetic_dataset_dir());
  // An eval whose data does not exist fails for every model; the others still finish.
  text += "\n[[evals]]\nname = \"broken\"\nargs = [\"--task\", \"ppl\", \"--data\", \"/no/such/data\"]\n";
  const std::string plan = write(dir, "plan.toml", text);
  const std::string out = dir.file("results");
  auto r = run_cli("study --plan " + plan + " --out " + out);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.out.find("12 job(s) run, 0 already done, 3 failed"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("eval gdn/broken FAILED"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(out + "/gdn/evals/mqar.json"));
  EXPECT_TRUE(fs::exists(out + "/results.md"));
}

TEST(StudyRun, HostileResultsFolderRunsNoShellCommandThroughThePlots) {
  TempDir dir;
  const std::string marker = dir.file("pwned");
  StudyOptions options;
  options.out = dir.file("results\n!touch '" + marker + "' #");
  options.report_only = true;
  fs::create_directories(options.out + "/gdn");
  std::ofstream(options.out + "/gdn/metrics.jsonl") << R"({"kind":"train","step":1,"tokens":64,"loss":5.0})"
                                                     << "\n";
  study_run(study_plan_load(write(dir, "plan.toml", plan_text(synthetic_dataset_dir()))), options);
  EXPECT_FALSE(fs::exists(marker)) << "the results folder's name ran a shell command";
  EXPECT_TRUE(fs::exists(options.out + "/results.md"));
}

}  // namespace
}  // namespace oryx::testing
