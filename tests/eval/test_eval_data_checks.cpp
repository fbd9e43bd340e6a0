// What eval, generate and train check about the data and tokenizer they are handed: ppl
// windows default to the length the checkpoint was trained at (so the loss is the trainer's
// validation loss), a dataset or --tokenizer other than the checkpoint's is refused in one
// line, a vocabulary larger than the model's is refused up front, and NIAH takes a dataset
// folder as its haystack.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "oryx/checkpoint/checkpoint.h"
#include "oryx/common/error.h"
#include "oryx/data/prepare.h"
#include "oryx/data/shard.h"
#include "oryx/train/trainer.h"
#include "support/models.h"
#include "support/temp_dir.h"
#include "train/train_fixture.h"

namespace oryx::testing {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kTrainedSeqLen = 32;

// A tiny model trained at sequence length 32 on the byte-tokenized synthetic dataset.
struct TrainedRun {
  std::string final_dir;
  double val_loss_all_a = 0;  // the trainer's last validation loss under all-A
};

const TrainedRun& trained_run() {
  static const TrainedRun run = [] {
    TrainOptions o = tiny_train_options("oryx-gdn-tiny", kTrainedSeqLen * 8 * 3);
    o.seq_len = kTrainedSeqLen;
    o.eval_windows = 4;
    o.threads = 1;
    const TrainSummary s = train_run(o);
    return TrainedRun{(fs::path(o.out) / "final").string(),
                      s.last_eval.at("eval").at("all-A").at("loss").get<double>()};
  }();
  return run;
}

PrepareOptions synthetic_prepare(const std::string& out, bool sentencepiece) {
  PrepareOptions p;
  SyntheticOptions s;
  s.documents = 60;
  s.doc_chars = 800;
  p.synthetic = s;
  p.val_fraction = 0.2;
  p.train_tokenizer = sentencepiece;
  p.tokenizer_options.vocab_size = 300;
  p.tokenizer_options.threads = 1;
  p.out_dir = out;
  p.overwrite = true;
  p.progress = false;
  return p;
}

// The synthetic corpus again, tokenized by a SentencePiece model of 300 pieces.
const std::string& sentencepiece_dataset() {
  static const std::string dir = [] {
    const std::string d = make_temp_dir("sp-data") + "/data";
    dataset_prepare(synthetic_prepare(d, true));
    return d;
  }();
  return dir;
}

void expect_one_line_error(const CliResult& r, const std::string& part) {
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(EvalDataChecks, PplWindowsDefaultToTheTrainingSeqLenAndMatchValidationLoss) {
  const TrainedRun& run = trained_run();
  const auto r = run_cli("eval --checkpoint " + run.final_dir + " --device cpu --task ppl --data " +
                         synthetic_dataset_dir() + " --max-examples 4 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["settings"]["seq_len"].get<int64_t>(), kTrainedSeqLen) << r.out;
  EXPECT_NEAR(j["rows"][0]["loss"].get<double>(), run.val_loss_all_a, 1e-4) << r.out;
}

TEST(EvalDataChecks, PplSaysSoWhenTheCheckpointRecordsNoSeqLen) {
  TempDir dir;
  const std::string model_only = dir.file("model-only");
  fs::copy(trained_run().final_dir, model_only);
  fs::remove(fs::path(model_only) / "trainer.json");
  fs::remove(fs::path(model_only) / "optimizer.safetensors");
  const auto r = run_cli("eval --checkpoint " + model_only + " --device cpu --task ppl --data " +
                         synthetic_dataset_dir() + " --max-examples 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("records no training seq_len; ppl windows use max_seq_len 1024"), std::string::npos)
      << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["settings"]["seq_len"].get<int64_t>(), 1024);
}

TEST(EvalDataChecks, PplRefusesADatasetOfAnotherTokenizer) {
  const auto r = run_cli("eval --checkpoint " + trained_run().final_dir + " --device cpu --task ppl --data " +
                         sentencepiece_dataset());
  expect_one_line_error(r, "tokenizer mismatch: dataset " + sentencepiece_dataset() + " uses tokenizer sha1:");
  EXPECT_NE(r.err.find("uses byte"), std::string::npos) << r.err;
}

TEST(EvalDataChecks, GenerateRefusesATokenizerOtherThanTheCheckpoints) {
  const std::string base =
      "generate --checkpoint " + trained_run().final_dir + " --device cpu --max-new 2 --prompt hi";
  expect_one_line_error(run_cli(base + " --tokenizer " + sentencepiece_dataset() + "/tokenizer.model"),
                        "tokenizer mismatch: --tokenizer " + sentencepiece_dataset() + "/tokenizer.model");
  const auto same = run_cli(base + " --tokenizer byte");
  EXPECT_EQ(same.exit_code, 0) << same.err;
}

TEST(EvalDataChecks, CheckpointsWithoutARecordedTokenizerAreAcceptedUnchecked) {
  TempDir dir;
  const std::string old = dir.file("old");
  fs::copy(trained_run().final_dir, old);
  // An older build wrote the spec only: "byte" still says which tokenizer it is.
  std::ofstream(fs::path(old) / "tokenizer.txt") << "byte\n";
  EXPECT_EQ(checkpoint_files(old).tokenizer_id, "byte");
  // No tokenizer.txt at all (a model trained on MQAR): nothing to compare, so accepted.
  fs::remove(fs::path(old) / "tokenizer.txt");
  EXPECT_EQ(checkpoint_files(old).tokenizer_id, "");
  const auto r = run_cli("eval --checkpoint " + old + " --device cpu --task ppl --data " +
                         sentencepiece_dataset() + " --max-examples 1 --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(EvalDataChecks, CheckpointTokenizerCopyMustMatchItsRecord) {
  TempDir dir;
  const std::string ck = dir.file("ck");
  fs::copy(trained_run().final_dir, ck);
  std::ofstream(fs::path(ck) / "tokenizer.model") << "not the model it was trained with";
  std::ofstream(fs::path(ck) / "tokenizer.txt") << "tokenizer.model\nsha1:0000\n";
  std::string msg;
  try {
    checkpoint_files(ck);
  } catch (const Error& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("not the sha1:0000 recorded in tokenizer.txt"), std::string::npos) << msg;
}

TEST(EvalDataChecks, ResumeRefusesDataOfAnotherTokenizer) {
  TempDir dir;
  const std::string data = dir.file("data");
  dataset_prepare(synthetic_prepare(data, false));
  const std::string base = "train --config " + shipped_config_path("oryx-gdn-tiny") + " --data " + data +
                           " --out " + dir.file("run") +
                           " --tokens 4096 --batch-size 2 --seq-len 32 --eval-windows 1 --threads 1 --device cpu";
  const auto first = run_cli(base + " --max-steps 1");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  dataset_prepare(synthetic_prepare(data, true));  // the same folder, now tokenized by SentencePiece
  expect_one_line_error(run_cli(base + " --resume"), "tokenizer mismatch: checkpoint ");
}

// A dataset whose shards use ids 0..599, beyond the tiny configs' vocab_size of 512.
std::string wide_dataset(const TempDir& dir) {
  std::vector<int64_t> ids(4000);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>(i * 7) % 600;
  for (const char* split : {"train", "val"}) {
    ShardWriter w(dir.file(std::string(split) + "-00000.bin"), 600);
    w.append(ids);
    w.close();
  }
  Dataset ds;
  ds.dir = dir.path().string();
  ds.vocab_size = 600;
  ds.eod_id = 599;
  ds.tokenizer = "byte";
  ds.splits["train"] = {{"train-00000.bin"}, 4000, 1};
  ds.splits["val"] = {{"val-00000.bin"}, 4000, 1};
  dataset_write_meta(ds);
  return ds.dir;
}

TEST(EvalDataChecks, DatasetVocabularyLargerThanTheModelsIsRefusedUpFront) {
  TempDir dir;
  const std::string data = wide_dataset(dir);
  expect_one_line_error(run_cli("eval --config " + shipped_config_path("oryx-gdn-tiny") +
                                " --device cpu --task ppl --seq-len 32 --data " + data),
                        "vocabulary of 600 ids is larger than the model's vocab_size of 512");
  expect_one_line_error(run_cli("train --config " + shipped_config_path("oryx-gdn-tiny") + " --data " + data +
                                " --out " + dir.file("run") +
                                " --tokens 256 --batch-size 2 --seq-len 32 --device cpu"),
                        "has vocab_size 600, more than the model's 512");
}

TEST(EvalDataChecks, NiahTakesADatasetFolderAsItsHaystack) {
  const auto r = run_cli("eval --config " + shipped_config_path("oryx-gdn-tiny") +
                         " --device cpu --task niah --data " + synthetic_dataset_dir() +
                         " --lengths 256 --depths 0.5 --n 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["settings"]["haystack_tokens"].get<int64_t>(), 1000) << r.out;
}

}  // namespace
}  // namespace oryx::testing
