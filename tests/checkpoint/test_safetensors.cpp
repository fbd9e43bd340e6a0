// The safetensors reader and writer: round trips over every dtype and awkward layouts, the
// exact bytes of the public format (a file the reference implementation writes, spelt out by
// hand), and one malformed file per validation the reader makes, each of which must be an
// oryx::Error naming the file and the problem, never a crash.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "oryx/checkpoint/safetensors.h"
#include "oryx/common/error.h"
#include "support/temp_dir.h"

namespace oryx::testing {
namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// A file with the given JSON header (unpadded) and data buffer.
std::string raw_file(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

// Reads `bytes` as a file and returns the error message, failing if there is none. Each call
// writes a new file: rewriting one in place makes ext4 flush it to disk (auto_da_alloc), which
// costs milliseconds per case.
std::string read_error(const TempDir& dir, const std::string& bytes) {
  static int serial = 0;
  const std::string path = dir.file("bad-" + std::to_string(serial++) + ".safetensors");
  write_bytes(path, bytes);
  try {
    safetensors_read(path);
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << "message does not name the file: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
    return msg;
  }
  ADD_FAILURE() << "no error for a malformed file";
  return "";
}

#define EXPECT_MENTIONS(expr, part)                                      \
  do {                                                                   \
    const std::string msg_ = (expr);                                     \
    EXPECT_NE(msg_.find(part), std::string::npos) << "message: " << msg_; \
  } while (0)

// A one-tensor header {"w": {"dtype": .., "shape": .., "data_offsets": ..}}.
std::string one_entry(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return R"({"w":{"dtype":)" + dtype + R"(,"shape":)" + shape + R"(,"data_offsets":)" + offsets + "}}";
}

TEST(SafetensorsTest, RoundTripsEveryDtype) {
  TempDir dir;
  torch::manual_seed(0);
  std::vector<std::pair<std::string, torch::Tensor>> tensors = {
      {"f64", torch::randn({2, 3}, torch::kFloat64)},
      {"f32", torch::randn({3}, torch::kFloat32)},
      {"f16", torch::randn({2, 2}, torch::kFloat16)},
      {"bf16", torch::randn({5}, torch::kBFloat16)},
      {"i64", torch::randint(-1000000, 1000000, {4}, torch::kInt64)},
      {"i32", torch::randint(-100000, 100000, {2, 1}, torch::kInt32)},
      {"i16", torch::randint(-30000, 30000, {3}, torch::kInt16)},
      {"i8", torch::randint(-128, 128, {7}, torch::kInt8)},
      {"u8", torch::randint(0, 256, {1, 1, 3}, torch::kUInt8)},
      {"bool", torch::randint(0, 2, {6}, torch::kInt64).to(torch::kBool)},
  };
  const std::string path = dir.file("all.safetensors");
  safetensors_write(path, tensors);
  const SafetensorsFile f = safetensors_read(path);
  ASSERT_EQ(f.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    const torch::Tensor& got = f.get(name);
    EXPECT_EQ(got.scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(got, t)) << name;
  }
  EXPECT_EQ(safetensors_dtype_name(torch::kBFloat16), "BF16");
}

TEST(SafetensorsTest, RoundTripsScalarsEmptyAndNonContiguous) {
  TempDir dir;
  auto base = torch::arange(24, torch::kFloat32).reshape({4, 6});
  std::vector<std::pair<std::string, torch::Tensor>> tensors = {
      {"scalar", torch::tensor(2.5, torch::kFloat64)},
      {"empty", torch::zeros({0}, torch::kFloat32)},
      {"empty_3d", torch::zeros({3, 0, 2}, torch::kInt32)},
      {"transposed", base.t()},
      {"strided", base.slice(1, 0, 6, 2)},
      {"expanded", torch::tensor({1.0f, 2.0f}).unsqueeze(0).expand({3, 2})},
      {"negated_view", torch::_neg_view(base)},
  };
  const std::string path = dir.file("odd.safetensors");
  safetensors_write(path, tensors);
  const SafetensorsFile f = safetensors_read(path);
  for (const auto& [name, t] : tensors) {
    EXPECT_EQ(f.get(name).sizes(), t.sizes()) << name;
    EXPECT_TRUE(torch::equal(f.get(name), t.resolve_neg())) << name;
    EXPECT_TRUE(f.get(name).is_contiguous()) << name;
  }
  EXPECT_EQ(f.get("scalar").dim(), 0);
}

// Tensors past the reader's 32 MB pieces (read by several threads), between small ones at
// odd offsets, come back byte for byte.
TEST(SafetensorsTest, RoundTripsTensorsReadInManyPieces) {
  TempDir dir;
  torch::manual_seed(9);
  std::vector<std::pair<std::string, torch::Tensor>> tensors = {
      {"a_small", torch::randint(0, 255, {3}, torch::kUInt8)},
      {"b_big", torch::randn({(int64_t{70} << 20) / 4 + 3})},  // 70 MB and 12 bytes: three pieces
      {"c_small", torch::randn({5}, torch::kFloat64)},
      {"d_big", torch::randn({33 << 20}).to(torch::kBFloat16)},  // 66 MB: three pieces
  };
  const std::string path = dir.file("big.safetensors");
  safetensors_write(path, tensors);
  const SafetensorsFile f = safetensors_read(path);
  for (const auto& [name, t] : tensors) EXPECT_TRUE(torch::equal(f.get(name), t)) << name;
}

TEST(SafetensorsTest, RoundTripsMetadataAndEmptyFiles) {
  TempDir dir;
  const std::string path = dir.file("meta.safetensors");
  const std::map<std::string, std::string> meta = {{"config", R"({"d_model": 64})"},
                                                   {"note", "ünïcödé \"quoted\"\n"}};
  safetensors_write(path, {{"x", torch::ones({2})}}, meta);
  EXPECT_EQ(safetensors_read(path).metadata, meta);

  safetensors_write(path, {});
  const SafetensorsFile empty = safetensors_read(path);
  EXPECT_TRUE(empty.tensors.empty());
  EXPECT_TRUE(empty.metadata.empty());
  EXPECT_EQ(read_bytes(path), le64(8) + "{}      ");
}

TEST(SafetensorsTest, ReplacesAnExistingFile) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  safetensors_write(path, {{"a", torch::ones({100})}});
  safetensors_write(path, {{"b", torch::zeros({2})}});
  const SafetensorsFile f = safetensors_read(path);
  EXPECT_FALSE(f.has("a"));
  EXPECT_TRUE(f.has("b"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

// The bytes the reference implementation (Python safetensors 0.8.0) writes for
//   save({"x": [1.0, 2.0] f32, "y": [-2] i16, "z": 3.5 f64 (0-d)}, metadata={"format": "pt"})
// spelt out here: length 200, the header ordered by dtype with __metadata__ first, padded with
// 7 spaces, then z, x and y little-endian.
const std::string kReferenceHeader =
    R"({"__metadata__":{"format":"pt"},"z":{"dtype":"F64","shape":[],"data_offsets":[0,8]},)"
    R"("x":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
    R"("y":{"dtype":"I16","shape":[1],"data_offsets":[16,18]}}       )";
const std::string kReferenceData = std::string("\x00\x00\x00\x00\x00\x00\x0c\x40", 8) +  // 3.5
                                   std::string("\x00\x00\x80\x3f\x00\x00\x00\x40", 8) +  // 1, 2
                                   std::string("\xfe\xff", 2);                           // -2

TEST(SafetensorsTest, ReadsReferenceBytes) {
  TempDir dir;
  ASSERT_EQ(kReferenceHeader.size(), 200u);
  const std::string path = dir.file("ref.safetensors");
  write_bytes(path, raw_file(kReferenceHeader, kReferenceData));
  const SafetensorsFile f = safetensors_read(path);
  EXPECT_EQ(f.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  ASSERT_EQ(f.tensors.size(), 3u);
  EXPECT_EQ(f.get("z").dim(), 0);
  EXPECT_EQ(f.get("z").item<double>(), 3.5);
  EXPECT_TRUE(torch::equal(f.get("x"), torch::tensor({1.0f, 2.0f})));
  EXPECT_TRUE(torch::equal(f.get("y"), torch::tensor({-2}, torch::kInt16)));
}

TEST(SafetensorsTest, WritesReferenceBytes) {
  TempDir dir;
  const std::string path = dir.file("ours.safetensors");
  safetensors_write(path,
                    {{"x", torch::tensor({1.0f, 2.0f})},
                     {"y", torch::tensor({-2}, torch::kInt16)},
                     {"z", torch::tensor(3.5, torch::kFloat64)}},
                    {{"format", "pt"}});
  EXPECT_EQ(read_bytes(path), raw_file(kReferenceHeader, kReferenceData));
}

TEST(SafetensorsTest, GetNamesFileAndTensor) {
  TempDir dir;
  const std::string path = dir.file("g.safetensors");
  safetensors_write(path, {{"a", torch::ones({1})}});
  const SafetensorsFile f = safetensors_read(path);
  try {
    f.get("nope");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_MENTIONS(std::string(e.what()), path);
    EXPECT_MENTIONS(std::string(e.what()), "'nope'");
  }
}

TEST(SafetensorsTest, WriteRejectsBadInput) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  auto error_of = [&](const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
    try {
      safetensors_write(path, tensors);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_MENTIONS(error_of({{"a", torch::ones({1})}, {"a", torch::ones({2})}}), "appears twice");
  EXPECT_MENTIONS(error_of({{"__metadata__", torch::ones({1})}}), "reserved");
  EXPECT_MENTIONS(error_of({{"c", torch::ones({1}, torch::kComplexFloat)}}), "ComplexFloat");
  EXPECT_MENTIONS(error_of({{"u", torch::Tensor()}}), "undefined");
  EXPECT_MENTIONS(error_of({{std::string("\xff\xfe"), torch::ones({1})}}), "UTF-8");
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 0);
}

TEST(SafetensorsTest, RejectsMissingAndShortFiles) {
  TempDir dir;
  EXPECT_THROW(
      {
        try {
          safetensors_read(dir.file("absent.safetensors"));
        } catch (const Error& e) {
          EXPECT_MENTIONS(std::string(e.what()), "does not exist");
          throw;
        }
      },
      Error);
  EXPECT_THROW(safetensors_read(dir.path().string()), Error);
  EXPECT_MENTIONS(read_error(dir, "abc"), "fewer than the 8-byte header length");
  EXPECT_MENTIONS(read_error(dir, le64(100) + "{}"), "exceeds");
  EXPECT_MENTIONS(read_error(dir, le64(uint64_t(1) << 40) + "{}"), "absurd");
}

TEST(SafetensorsTest, RejectsBadJson) {
  TempDir dir;
  EXPECT_MENTIONS(read_error(dir, raw_file("{\"w\":", "")), "not valid UTF-8 JSON");
  EXPECT_MENTIONS(read_error(dir, raw_file("{\"\xff\":1}", "")), "not valid UTF-8 JSON");
  EXPECT_MENTIONS(read_error(dir, raw_file("[1,2]", "")), "must be a JSON object");
  EXPECT_MENTIONS(read_error(dir, raw_file(R"({"w":3})", "")), "must be a JSON object");
  const std::string entry = R"({"dtype":"U8","shape":[1],"data_offsets":[0,1]})";
  EXPECT_MENTIONS(read_error(dir, raw_file(R"({"w":)" + entry + R"(,"w":)" + entry + "}", "x")),
                  "'w' appears twice");
  EXPECT_MENTIONS(read_error(dir, raw_file(R"({"__metadata__":{"k":1}})", "")), "'__metadata__'");
  EXPECT_MENTIONS(read_error(dir, raw_file(R"({"__metadata__":[1]})", "")), "'__metadata__'");
}

TEST(SafetensorsTest, RejectsBadEntries) {
  TempDir dir;
  EXPECT_MENTIONS(read_error(dir, raw_file(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", "1234")),
                  "has no 'dtype'");
  EXPECT_MENTIONS(read_error(dir, raw_file(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", "1234")),
                  "has no 'shape'");
  EXPECT_MENTIONS(read_error(dir, raw_file(R"({"w":{"dtype":"F32","shape":[1]}})", "1234")),
                  "has no 'data_offsets'");
  EXPECT_MENTIONS(read_error(dir, raw_file(one_entry("4", "[1]", "[0,4]"), "1234")),
                  "'dtype' must be a string");
  EXPECT_MENTIONS(read_error(dir, raw_file(one_entry(R"("Q7")", "[1]", "[0,4]"), "1234")),
                  "unknown dtype 'Q7'");
  EXPECT_MENTIONS(read_error(dir, raw_file(one_entry(R"("F8_E4M3")", "[4]", "[0,4]"), "1234")),
                  "F8_E4M3, which Oryx does not read");
  EXPECT_MENTIONS(read_error(dir, raw_file(one_entry(R"("F32")", "1", "[0,4]"), "1234")),
                  "'shape' must be an array of integers");
  EXPECT_MENTIONS(read_error(dir, raw_file(one_entry(R"("F32")", "[1.0]", "[0,4]"), "1234")),
                  "'shape' must be an array of integers");
  EXPECT_MENTIONS(read_error(dir, raw_file(one_entry(R"("F32")", "[-1]", "[0,4]"), "1234")),
                  "negative dimension");
  EXPECT_MENTIONS(
      read_error(dir, raw_file(one_entry(R"("U8")", "[4294967296,4294967296,4294967296]", "[0,4]"),
                               "1234")),
      "impossible shape");
  for (const char* offsets : {"[0]", "[0,4,8]", R"(["0","4"])", "[-4,0]", "{}"})
    EXPECT_MENTIONS(read_error(dir, raw_file(one_entry(R"("F32")", "[1]", offsets), "1234")),
                    "'data_offsets' must be two non-negative integers");
  EXPECT_MENTIONS(read_error(dir, raw_file(one_entry(R"("F32")", "[1]", "[4,0]"), "1234")),
                  "not ascending");
  EXPECT_MENTIONS(read_error(dir, raw_file(one_entry(R"("F32")", "[2]", "[0,4]"), "1234")),
                  "(8 bytes) but data_offsets [0,4] span 4 bytes");
  EXPECT_MENTIONS(read_error(dir, raw_file(one_entry(R"("BOOL")", "[2]", "[0,2]"), "\x01\x02")),
                  "BOOL");
}

TEST(SafetensorsTest, RejectsBadLayouts) {
  TempDir dir;
  const std::string a = R"("a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]})";
  EXPECT_MENTIONS(read_error(dir, raw_file(one_entry(R"("U8")", "[4]", "[100,104]"), "1234")),
                  "outside the data buffer");
  EXPECT_MENTIONS(
      read_error(dir, raw_file("{" + a + R"(,"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})",
                               "123456")),
      "tensors 'a' [0,4) and 'b' [2,6) overlap");
  EXPECT_MENTIONS(
      read_error(dir, raw_file("{" + a + R"(,"b":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}})",
                               "12345678")),
      "data bytes [4,6) are not covered by any tensor");
  EXPECT_MENTIONS(read_error(dir, raw_file("{" + a + "}", "123456")),
                  "data bytes [4,6) are not covered by any tensor");
  EXPECT_MENTIONS(read_error(dir, raw_file("{" + a + "}", "12")), "truncated");
}

// Cutting a valid file anywhere must give an oryx::Error that says "truncated".
TEST(SafetensorsTest, TruncationAtEveryByteIsAnError) {
  TempDir dir;
  const std::string path = dir.file("full.safetensors");
  safetensors_write(path,
                    {{"a", torch::randn({3, 2})}, {"b", torch::ones({2}, torch::kInt16)},
                     {"c", torch::zeros({0})}},
                    {{"k", "v"}});
  const std::string full = read_bytes(path);
  for (size_t cut = 0; cut < full.size(); ++cut) {
    SCOPED_TRACE("cut at byte " + std::to_string(cut));
    EXPECT_MENTIONS(read_error(dir, full.substr(0, cut)), "truncated");
  }
}

// Random byte flips in a valid file: the reader either reads it or raises oryx::Error.
TEST(SafetensorsTest, CorruptedBytesNeverCrash) {
  TempDir dir;
  const std::string path = dir.file("fuzz.safetensors");
  safetensors_write(path, {{"a", torch::randn({3, 2})}, {"m", torch::ones({4}, torch::kBool)}});
  const std::string full = read_bytes(path);
  std::mt19937 rng(1234);
  std::uniform_int_distribution<size_t> pos(0, full.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int trial = 0; trial < 300; ++trial) {
    std::string bytes = full;
    for (int k = 0; k < 1 + trial % 3; ++k) bytes[pos(rng)] = static_cast<char>(byte(rng));
    const std::string corrupt = dir.file("corrupt-" + std::to_string(trial) + ".safetensors");
    write_bytes(corrupt, bytes);
    try {
      safetensors_read(corrupt);
    } catch (const Error&) {
    }
  }
}

}  // namespace
}  // namespace oryx::testing
