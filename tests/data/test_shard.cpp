// Token shards and dataset folders: exact round trips at both token widths, and a clear
// error naming the file for anything truncated, foreign or inconsistent.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "oryx/common/error.h"
#include "oryx/data/shard.h"
#include "oryx/data/tokenizer.h"
#include "support/temp_dir.h"

namespace oryx::testing {
namespace {

namespace fs = std::filesystem;

// The message of the oryx::Error `f` throws ("" if none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::vector<int64_t> ramp(int64_t n, int64_t vocab) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = (i * 7919) % vocab;
  v.back() = vocab - 1;
  return v;
}

void write_shard(const std::string& path, const std::vector<int64_t>& ids, int64_t vocab) {
  ShardWriter w(path, vocab);
  w.append(ids.data(), ids.size() / 2);  // two appends: the writer streams
  w.append(ids.data() + ids.size() / 2, ids.size() - ids.size() / 2);
  w.close();
}

struct WidthCase {
  int64_t vocab;
  int bytes;
};
void PrintTo(const WidthCase& c, std::ostream* os) { *os << "vocab " << c.vocab << ", " << c.bytes << " bytes"; }

class DataShardWidth : public ::testing::TestWithParam<WidthCase> {};

TEST_P(DataShardWidth, RoundTrip) {
  const auto [vocab, bytes] = GetParam();
  TempDir dir;
  const auto ids = ramp(1001, vocab);
  write_shard(dir.file("s.bin"), ids, vocab);
  EXPECT_FALSE(fs::exists(dir.file("s.bin.tmp")));
  EXPECT_EQ(fs::file_size(dir.file("s.bin")), 32u + ids.size() * bytes);

  ShardReader r(dir.file("s.bin"));
  EXPECT_EQ(r.size(), 1001);
  EXPECT_EQ(r.vocab_size(), vocab);
  EXPECT_EQ(r.bytes_per_token(), bytes);
  std::vector<int64_t> back(ids.size());
  r.read(0, r.size(), back.data());
  EXPECT_EQ(back, ids);
  std::vector<int64_t> mid(10);
  r.read(500, 10, mid.data());
  EXPECT_EQ(mid, std::vector<int64_t>(ids.begin() + 500, ids.begin() + 510));
  EXPECT_EQ(r.at(1000), vocab - 1);
  EXPECT_NO_THROW(r.check_ids());
  EXPECT_THROW(r.read(995, 10, back.data()), Error);
}

INSTANTIATE_TEST_SUITE_P(Widths, DataShardWidth,
                         ::testing::Values(WidthCase{1000, 2}, WidthCase{65536, 2},
                                           WidthCase{65537, 4}, WidthCase{200000, 4}),
                         [](const auto& info) {
                           return "vocab" + std::to_string(info.param.vocab);
                         });

TEST(DataShard, UnclosedWriterLeavesNothing) {
  TempDir dir;
  {
    ShardWriter w(dir.file("s.bin"), 300);
    w.append({1, 2, 3});
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(DataShard, WriterRejectsOutOfVocabulary) {
  TempDir dir;
  ShardWriter w(dir.file("s.bin"), 300);
  EXPECT_THROW(w.append({300}), Error);
}

TEST(DataShard, TruncatedFileNamesFile) {
  TempDir dir;
  write_shard(dir.file("s.bin"), ramp(100, 500), 500);
  fs::resize_file(dir.file("s.bin"), 32 + 2 * 100 - 1);
  const auto msg = error_of([&] { ShardReader r(dir.file("s.bin")); });
  EXPECT_NE(msg.find("s.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  fs::resize_file(dir.file("s.bin"), 10);
  EXPECT_NE(error_of([&] { ShardReader r(dir.file("s.bin")); }).find("header"), std::string::npos);
}

TEST(DataShard, WrongMagicNamesFile) {
  TempDir dir;
  std::ofstream(dir.file("foreign.bin")) << std::string(64, 'x');
  const auto msg = error_of([&] { ShardReader r(dir.file("foreign.bin")); });
  EXPECT_NE(msg.find("foreign.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bad magic"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { ShardReader r(dir.file("absent.bin")); }).find("absent.bin"),
            std::string::npos);
}

TEST(DataShard, CheckIdsFindsOutOfVocabulary) {
  TempDir dir;
  write_shard(dir.file("s.bin"), {1, 2, 250, 3}, 300);
  // Shrink the recorded vocabulary to 200 (same 2-byte width): id 250 is now out of range.
  {
    std::fstream f(dir.file("s.bin"), std::ios::in | std::ios::out | std::ios::binary);
    const uint64_t vocab = 200;
    f.seekp(24);
    f.write(reinterpret_cast<const char*>(&vocab), sizeof vocab);
  }
  ShardReader r(dir.file("s.bin"));
  const auto msg = error_of([&] { r.check_ids(); });
  EXPECT_NE(msg.find("token 2 has id 250"), std::string::npos) << msg;
}

Dataset small_dataset(const TempDir& dir) {
  write_shard(dir.file("train-00000.bin"), ramp(50, 300), 300);
  write_shard(dir.file("train-00001.bin"), ramp(20, 300), 300);
  write_shard(dir.file("val-00000.bin"), ramp(10, 300), 300);
  Dataset ds;
  ds.dir = dir.path().string();
  ds.vocab_size = 300;
  ds.eod_id = 299;
  ds.tokenizer = "byte";
  ds.splits["train"] = {{"train-00000.bin", "train-00001.bin"}, 70, 3};
  ds.splits["val"] = {{"val-00000.bin"}, 10, 1};
  return ds;
}

TEST(DataDataset, MetaRoundTrip) {
  TempDir dir;
  dataset_write_meta(small_dataset(dir));
  const Dataset ds = dataset_open(dir.path().string());
  EXPECT_EQ(ds.vocab_size, 300);
  EXPECT_EQ(ds.eod_id, 299);
  EXPECT_EQ(ds.tokenizer_spec(), "byte");
  EXPECT_EQ(ds.split("train").tokens, 70);
  EXPECT_EQ(ds.split("train").shards.size(), 2u);
  EXPECT_EQ(ds.split("val").documents, 1);
  const auto msg = error_of([&] { ds.split("test"); });
  EXPECT_NE(msg.find("train, val"), std::string::npos) << msg;
}

TEST(DataDataset, OpenRejectsInconsistentMeta) {
  TempDir dir;
  Dataset ds = small_dataset(dir);
  ds.splits["train"].tokens = 71;
  dataset_write_meta(ds);
  EXPECT_NE(error_of([&] { dataset_open(ds.dir); }).find("hold 70 tokens"), std::string::npos);

  ds.splits["train"].tokens = 70;
  ds.vocab_size = 400;  // shards say 300
  dataset_write_meta(ds);
  EXPECT_NE(error_of([&] { dataset_open(ds.dir); }).find("differs"), std::string::npos);

  auto j = small_dataset(dir).meta_json();
  j["shuffle"] = true;  // unknown key
  std::ofstream(dir.file("meta.json")) << j.dump();
  EXPECT_NE(error_of([&] { dataset_open(ds.dir); }).find("shuffle"), std::string::npos);

  EXPECT_NE(error_of([&] { dataset_open(dir.file("nowhere")); }).find("not found"),
            std::string::npos);
}

TEST(DataDataset, OpenFindsAnOutOfVocabularyIdNamingShardAndOffset) {
  TempDir dir;
  const Dataset ds = small_dataset(dir);
  dataset_write_meta(ds);
  {
    // Token 5 of the second train shard becomes 350: a 2-byte value past the vocabulary of 300.
    std::fstream f(dir.file("train-00001.bin"), std::ios::in | std::ios::out | std::ios::binary);
    const uint16_t id = 350;
    f.seekp(32 + 2 * 5);
    f.write(reinterpret_cast<const char*>(&id), sizeof id);
  }
  const auto msg = error_of([&] { dataset_open(ds.dir); });
  EXPECT_NE(msg.find("train-00001.bin: token 5 has id 350, outside the vocabulary of 300"), std::string::npos)
      << msg;
}

TEST(DataDataset, OpenChecksTheTokenizerFileAndItsRecordedIdentity) {
  TempDir dir;
  Dataset ds = small_dataset(dir);
  ds.tokenizer = "tokenizer.model";
  dataset_write_meta(ds);
  auto msg = error_of([&] { dataset_open(ds.dir); });
  EXPECT_NE(msg.find("tokenizer.model, is missing"), std::string::npos) << msg;

  std::ofstream(dir.file("tokenizer.model")) << "model bytes";
  EXPECT_EQ(dataset_open(ds.dir).tokenizer_id, tokenizer_identity(dir.file("tokenizer.model")))
      << "a dataset without a recorded identity gets its copy's";
  ds.tokenizer_id = tokenizer_identity(dir.file("tokenizer.model"));
  dataset_write_meta(ds);
  std::ofstream(dir.file("tokenizer.model")) << "other bytes";
  msg = error_of([&] { dataset_open(ds.dir); });
  EXPECT_NE(msg.find("the dataset was tokenized with"), std::string::npos) << msg;
}

TEST(DataTokenizerIdentity, ByteOrHashOfTheFileBytes) {
  TempDir dir;
  std::ofstream(dir.file("a.model")) << "piece table A";
  std::ofstream(dir.file("b.model")) << "piece table B";
  fs::copy_file(dir.file("a.model"), dir.file("a-copy.model"));
  EXPECT_EQ(tokenizer_identity("byte"), "byte");
  EXPECT_EQ(tokenizer_identity(""), "");
  const std::string a = tokenizer_identity(dir.file("a.model"));
  EXPECT_EQ(a.rfind("sha1:", 0), 0u) << a;
  EXPECT_EQ(a.size(), 5u + 40u) << a;
  EXPECT_EQ(a, tokenizer_identity(dir.file("a-copy.model")));
  EXPECT_NE(a, tokenizer_identity(dir.file("b.model")));
  tokenizer_check_same("x", a, "y", "");  // unrecorded on one side: cannot check, passes
  const auto msg = error_of([&] { tokenizer_check_same("dataset d", a, "checkpoint c", "byte"); });
  EXPECT_NE(msg.find("tokenizer mismatch: dataset d uses tokenizer " + a + " but checkpoint c uses byte"),
            std::string::npos)
      << msg;
}

}  // namespace
}  // namespace oryx::testing
