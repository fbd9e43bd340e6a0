// oryx prepare end to end: through the library (a trained tokenizer, several shards, a
// document decoded back from the shards) and through the built CLI (exit codes 0 and 2,
// one-line errors, --json).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "oryx/common/error.h"
#include "oryx/data/corpus.h"
#include "oryx/data/loader.h"
#include "oryx/data/prepare.h"
#include "support/temp_dir.h"

namespace oryx::testing {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs the oryx CLI with `args`; returns its exit status, stdout and stderr in the files.
int run_cli(const std::string& args, const TempDir& dir) {
  const std::string cmd = "ORYX_NO_PROGRESS=1 '" ORYX_CLI_PATH "' " + args + " > '" +
                          dir.file("stdout") + "' 2> '" + dir.file("stderr") + "'";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(DataPrepare, TrainedTokenizerShardsDecodeBack) {
  TempDir dir;
  PrepareOptions o;
  SyntheticOptions syn;
  syn.documents = 30;
  syn.doc_chars = 800;
  o.synthetic = syn;
  o.val_fraction = 0.2;
  o.train_tokenizer = true;
  o.tokenizer_options.vocab_size = 400;
  o.tokenizer_options.threads = 1;
  o.out_dir = dir.file("ds");
  o.shard_tokens = 2000;
  o.progress = false;
  const PrepareSummary s = dataset_prepare(o);

  const Dataset ds = dataset_open(o.out_dir);
  EXPECT_EQ(ds.tokenizer, "tokenizer.model");
  EXPECT_EQ(ds.vocab_size, 400);
  EXPECT_EQ(ds.eod_id, 1);
  const auto& train = ds.split("train");
  const auto& val = ds.split("val");
  EXPECT_EQ(train.documents + val.documents, 30);
  EXPECT_GT(val.documents, 0);
  EXPECT_GT(train.shards.size(), 1u) << "shard_tokens should have split the train stream";
  EXPECT_EQ(s.splits.at("train").tokens, train.tokens);
  EXPECT_EQ(s.splits.at("val").tokens, val.tokens);

  // The first train document is the first synthetic one the content hash left in train.
  int64_t first = 0;
  while (corpus_content_fraction(synthetic_document(syn, first), "oryx-val") < 0.2) ++first;
  const auto tok = tokenizer_load(ds.tokenizer_spec());
  TokenStream stream(ds, "train");
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < stream.size(); ++i) {
    int64_t id;
    stream.read(i, 1, &id);
    if (id == ds.eod_id) break;
    ids.push_back(id);
  }
  EXPECT_EQ(tok->decode(ids), synthetic_document(syn, first));
}

TEST(DataPrepare, ExplicitValidationSourceAndOverwrite) {
  TempDir dir;
  std::ofstream(dir.file("train.txt")) << "one\n\x1e\ntwo\n\x1e\nthree\n";
  std::ofstream(dir.file("val.txt")) << "held out\n";
  PrepareOptions o;
  o.inputs = {dir.file("train.txt")};
  o.val_inputs = {dir.file("val.txt")};
  o.out_dir = dir.file("ds");
  o.progress = false;
  const PrepareSummary s = dataset_prepare(o);
  EXPECT_EQ(s.splits.at("train").documents, 3);
  EXPECT_EQ(s.splits.at("train").tokens, 3 + 3 + 5 + 3);  // bytes plus one eod each
  EXPECT_EQ(s.splits.at("val").tokens, 9);
  EXPECT_THROW(dataset_prepare(o), Error);  // a dataset is there already
  // Three documents and a 1% hash split: none lands in val, which is a notice, not an error.
  o.overwrite = true;
  o.val_inputs.clear();
  o.val_fraction = 0.01;
  std::vector<std::string> notices;
  o.corpus.warn = [&](const std::string& m) { notices.push_back(m); };
  dataset_prepare(o);
  const Dataset ds = dataset_open(o.out_dir);
  EXPECT_EQ(ds.splits.count("val"), 0u);
  EXPECT_FALSE(fs::exists(dir.file("ds/val-00000.bin"))) << "the old val shard is removed";
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_NE(notices[0].find("no val split"), std::string::npos) << notices[0];
}

TEST(DataPrepare, OverwriteRefusesAFolderThatIsNotAnOryxDataset) {
  TempDir dir;
  const std::string out = dir.file("project");
  fs::create_directories(out);
  const std::string meta = R"({"name": "someone else's meta.json"})";
  std::ofstream(out + "/meta.json") << meta;
  std::ofstream(out + "/tokenizer.model") << "not ours";
  std::ofstream(dir.file("train.txt")) << "one\n";
  PrepareOptions o;
  o.inputs = {dir.file("train.txt")};
  o.out_dir = out;
  o.progress = false;
  o.overwrite = true;
  try {
    dataset_prepare(o);
    FAIL() << "--overwrite replaced a folder that is not an oryx dataset";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("oryx-shards"), std::string::npos) << e.what();
  }
  EXPECT_EQ(slurp(out + "/meta.json"), meta);
  EXPECT_EQ(slurp(out + "/tokenizer.model"), "not ours");
}

TEST(DataPrepare, CliSyntheticJson) {
  TempDir dir;
  const std::string out = dir.file("ds");
  ASSERT_EQ(run_cli("prepare --synthetic 40 --synthetic-doc-chars 400 --val-fraction 0.25 --out '" +
                        out + "' --json",
                    dir),
            0)
      << slurp(dir.file("stderr"));
  const auto j = nlohmann::json::parse(slurp(dir.file("stdout")));
  EXPECT_EQ(j["tokenizer"], "byte");
  EXPECT_EQ(j["splits"]["train"]["documents"].get<int64_t>() +
                j["splits"]["val"]["documents"].get<int64_t>(),
            40);
  const Dataset ds = dataset_open(out);
  EXPECT_EQ(ds.split("train").tokens, j["splits"]["train"]["tokens"].get<int64_t>());
  EXPECT_EQ(ds.vocab_size, 257);
}

TEST(DataPrepare, JsonlWithoutTheFieldFailsBeforeTokenizerTraining) {
  TempDir dir;
  std::ofstream(dir.file("good.jsonl")) << "{\"text\": \"some words here\"}\n";
  std::ofstream(dir.file("posts.jsonl")) << "{\"id\": 1, \"body\": \"hello\"}\n";
  PrepareOptions o;
  o.inputs = {dir.file("good.jsonl"), dir.file("posts.jsonl")};
  o.train_tokenizer = true;
  o.tokenizer_options.vocab_size = 300;
  o.out_dir = dir.file("ds");
  o.progress = false;
  std::string msg;
  try {
    dataset_prepare(o);
  } catch (const Error& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("posts.jsonl:1: the JSONL record has no string field \"text\" (its keys: body, id)"),
            std::string::npos)
      << msg;
  EXPECT_FALSE(fs::exists(dir.file("ds"))) << "nothing is written, no tokenizer trained";
}

TEST(DataPrepare, CliRefusesParquetByName) {
  TempDir dir;
  std::ofstream(dir.file("train.parquet")) << "PAR1 text-like bytes PAR1";
  EXPECT_EQ(run_cli("prepare '" + dir.file("train.parquet") + "' --out '" + dir.file("ds") + "'", dir), 2);
  const std::string err = slurp(dir.file("stderr"));
  EXPECT_NE(err.find("train.parquet: .parquet is not a corpus format"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

TEST(DataPrepare, MetaRecordsTheTokenizerIdentity) {
  TempDir dir;
  PrepareOptions o;
  SyntheticOptions syn;
  syn.documents = 10;
  syn.doc_chars = 200;
  o.synthetic = syn;
  o.out_dir = dir.file("ds");
  o.progress = false;
  dataset_prepare(o);
  const auto meta = nlohmann::json::parse(slurp(dir.file("ds/meta.json")));
  EXPECT_EQ(meta.value("tokenizer_id", ""), "byte") << meta.dump();
  EXPECT_EQ(dataset_open(dir.file("ds")).tokenizer_id, "byte");
}

TEST(DataPrepare, CliMissingInputIsOneLineExit2) {
  TempDir dir;
  EXPECT_EQ(run_cli("prepare '" + dir.file("absent.txt") + "' --out '" + dir.file("ds") + "'", dir),
            2);
  const std::string err = slurp(dir.file("stderr"));
  EXPECT_NE(err.find("input not found"), std::string::npos) << err;
  EXPECT_NE(err.find("absent.txt"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_FALSE(fs::exists(dir.file("ds"))) << "nothing is written before the inputs check out";
}

}  // namespace
}  // namespace oryx::testing
