// metrics.jsonl after a kill: the last record may be cut short mid-write. That line alone is
// dropped, so that --resume and `oryx plot` still work; a bad line anywhere else is an error.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "oryx/common/error.h"
#include "oryx/train/metrics.h"
#include "support/temp_dir.h"

namespace oryx::testing {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const char* kTwoRecords = "{\"kind\":\"train\",\"step\":1,\"loss\":5}\n{\"kind\":\"train\",\"step\":2,\"loss\":4}\n";

TEST(Metrics, CutShortLastRecordIsDropped) {
  TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  std::ofstream(path) << kTwoRecords << "{\"kind\":\"train\",\"st";
  const auto records = metrics_read(path);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1]["step"], 2);
}

TEST(Metrics, BadLineBeforeTheLastIsAnErrorNamingIt) {
  TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  std::ofstream(path) << "{\"step\":1}\n{\"st\n" << kTwoRecords;
  try {
    metrics_read(path);
    FAIL() << "a corrupt middle line was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("metrics.jsonl:2"), std::string::npos) << e.what();
  }
}

TEST(Metrics, ResumeRewritesAFileWithACutShortLastRecord) {
  TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  std::ofstream(path) << kTwoRecords << "{\"kind\":\"train\",\"step\":3,\"lo";
  {
    MetricsWriter writer(path, 2);  // what a run resumed from step 2 opens
    writer.write({{"kind", "train"}, {"step", 3}, {"loss", 3}});
  }
  const auto records = metrics_read(path);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[2]["loss"], 3);
  EXPECT_EQ(slurp(path).back(), '\n');
}

}  // namespace
}  // namespace oryx::testing
