// Corpus readers: document boundaries (0x1E lines), zstd streams, JSONL records, directory
// order, and bad input that is counted and reported with file and line, never silently.
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "oryx/common/error.h"
#include "oryx/data/corpus.h"
#include "support/temp_dir.h"

namespace oryx::testing {
namespace {

namespace fs = std::filesystem;

void write(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string zstd_frame(const std::string& text) {
  std::string out(ZSTD_compressBound(text.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), text.data(), text.size(), 3);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

struct Read {
  std::vector<std::string> docs;
  std::vector<std::string> warnings;
  CorpusStats stats;
};

Read read_all(const std::vector<std::string>& paths, int64_t max_reported = 5) {
  Read r;
  CorpusOptions opts;
  opts.max_reported = max_reported;
  opts.warn = [&](const std::string& m) { r.warnings.push_back(m); };
  r.stats = corpus_for_each(paths, opts, [&](const std::string& d) { r.docs.push_back(d); });
  return r;
}

bool any_contains(const std::vector<std::string>& v, const std::string& part) {
  for (const auto& s : v)
    if (s.find(part) != std::string::npos) return true;
  return false;
}

const std::string kText = "first doc\nline two\n\x1e\nsecond\n\n\x1e\nthird, no final newline";

TEST(DataCorpus, RecordSeparatorSplitsDocuments) {
  TempDir dir;
  write(dir.file("a.txt"), kText);
  write(dir.file("one.txt"), "no separator\nat all\n");
  const Read r = read_all({dir.file("a.txt"), dir.file("one.txt")});
  EXPECT_EQ(r.docs, (std::vector<std::string>{"first doc\nline two", "second\n",
                                              "third, no final newline", "no separator\nat all"}));
  EXPECT_EQ(r.stats.documents, 4);
  EXPECT_EQ(r.stats.files, 2);
  EXPECT_EQ(r.stats.bytes, 18 + 7 + 23 + 19);
  EXPECT_TRUE(r.warnings.empty());
}

TEST(DataCorpus, EmptyDocumentsCountedApart) {
  TempDir dir;
  write(dir.file("a.txt"), "a\n\x1e\n\x1e\n \n\x1e\nb\n\x1e\n");
  const Read r = read_all({dir.file("a.txt")});
  EXPECT_EQ(r.docs, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.stats.empty, 2);
  EXPECT_EQ(r.stats.skipped, 0);
}

TEST(DataCorpus, ZstdInputEqualsPlain) {
  TempDir dir;
  // Two concatenated frames, split mid-document: the stream must not care.
  write(dir.file("a.txt.zst"), zstd_frame(kText.substr(0, 15)) + zstd_frame(kText.substr(15)));
  const Read r = read_all({dir.file("a.txt.zst")});
  ASSERT_EQ(r.docs.size(), 3u);
  EXPECT_EQ(r.docs[0], "first doc\nline two");
  EXPECT_EQ(r.docs[2], "third, no final newline");
  EXPECT_EQ(r.stats.input_bytes, static_cast<int64_t>(fs::file_size(dir.file("a.txt.zst"))));
}

TEST(DataCorpus, CorruptZstdIsAnError) {
  TempDir dir;
  const std::string frame = zstd_frame(std::string(5000, 'a') + "\n\x1e\nb");
  write(dir.file("cut.zst"), frame.substr(0, frame.size() - 4));
  write(dir.file("plain.zst"), "this is not zstd");
  EXPECT_THROW(read_all({dir.file("cut.zst")}), Error);
  try {
    read_all({dir.file("plain.zst")});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("plain.zst"), std::string::npos) << e.what();
  }
}

TEST(DataCorpus, JsonlBadRecordsCountedAndReported) {
  TempDir dir;
  const std::string lines =
      "{\"text\": \"good one\"}\n"
      "{\"title\": \"no text field\"}\n"
      "{\"text\": broken\n"
      "\n"
      "[1, 2]\n"
      "{\"text\": \"bad \xC3\"}\n"
      "{\"text\": 42}\n"
      "{\"text\": \"good two\\nwith escape\", \"id\": 7}\n";
  write(dir.file("d.jsonl"), lines);
  write(dir.file("d.jsonl.zst"), zstd_frame(lines));
  for (const char* name : {"d.jsonl", "d.jsonl.zst"}) {
    const Read r = read_all({dir.file(name)});
    EXPECT_EQ(r.docs, (std::vector<std::string>{"good one", "good two\nwith escape"})) << name;
    EXPECT_EQ(r.stats.skipped, 5) << name;
    EXPECT_TRUE(any_contains(r.warnings, std::string(name) + ":2: record has no string field"));
    EXPECT_TRUE(any_contains(r.warnings, std::string(name) + ":3: not valid JSON"));
    EXPECT_TRUE(any_contains(r.warnings, std::string(name) + ":6: invalid UTF-8"));
  }
}

TEST(DataCorpus, JsonlCustomField) {
  TempDir dir;
  write(dir.file("d.jsonl"), "{\"body\": \"x\"}\n");
  CorpusOptions opts;
  opts.jsonl_field = "body";
  std::vector<std::string> docs;
  corpus_for_each({dir.file("d.jsonl")}, opts, [&](const std::string& d) { docs.push_back(d); });
  EXPECT_EQ(docs, std::vector<std::string>{"x"});
}

TEST(DataCorpus, InvalidUtf8SkippedWithLine) {
  TempDir dir;
  write(dir.file("a.txt"), "ok\n\x1e\nfine\nbad \xFF here\n\x1e\nalso ok\n");
  const Read r = read_all({dir.file("a.txt")});
  EXPECT_EQ(r.docs, (std::vector<std::string>{"ok", "also ok"}));
  EXPECT_EQ(r.stats.skipped, 1);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("a.txt:4: invalid UTF-8 at byte 5"), std::string::npos)
      << r.warnings[0];
}

TEST(DataCorpus, ReportsFirstFewThenCounts) {
  TempDir dir;
  std::string text = "good\n";
  for (int i = 0; i < 7; ++i) text += "\x1e\nbad\xFE\n";
  write(dir.file("a.txt"), text);
  const Read r = read_all({dir.file("a.txt")}, 2);
  EXPECT_EQ(r.stats.skipped, 7);
  ASSERT_EQ(r.warnings.size(), 3u);
  EXPECT_NE(r.warnings[2].find("only counted"), std::string::npos);
}

TEST(DataCorpus, EmptyCorpusAndMissingPathAreErrors) {
  TempDir dir;
  write(dir.file("empty.txt"), "");
  write(dir.file("bad.txt"), "\xFF\n");
  try {
    read_all({dir.file("empty.txt"), dir.file("bad.txt")});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("empty corpus"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("1 skipped"), std::string::npos) << e.what();
  }
  try {
    read_all({dir.file("empty.txt"), dir.file("nope.txt")});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("input not found"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("nope.txt"), std::string::npos) << e.what();
  }
}

TEST(DataCorpus, DirectoryRecursionInSortedOrder) {
  TempDir dir;
  const std::string root = dir.file("corpus");
  write(root + "/b.txt", "B");
  write(root + "/a/z.md", "AZ");
  write(root + "/a/c.txt.zst", zstd_frame("AC"));
  write(root + "/a/d.jsonl", "{\"text\": \"AD\"}\n");
  write(root + "/picture.png", "\x89PNG");
  write(root + "/.git/config.txt", "hidden");
  const Read r = read_all({root});
  EXPECT_EQ(r.docs, (std::vector<std::string>{"AC", "AD", "AZ", "B"}));
  EXPECT_EQ(r.stats.skipped_files, 2);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("picture.png"), std::string::npos) << r.warnings[0];
}

std::string gzip_bytes(const std::string& text) {
  uLongf n = compressBound(text.size()) + 32;
  std::string out(n, '\0');
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);  // +16: gzip header
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(DataCorpus, GzipTextAndJsonlReadLikePlainAlsoInFolders) {
  TempDir dir;
  write(dir.file("c/a.txt.gz"), gzip_bytes("one\n\x1e\ntwo"));
  write(dir.file("c/b.jsonl.gz"), gzip_bytes("{\"text\": \"three\"}\n{\"text\": \"four\"}\n"));
  write(dir.file("c/c.gz"), gzip_bytes("five"));
  write(dir.file("c/weights.npy.gz"), gzip_bytes("\x93NUMPY binary"));  // skipped: a binary format
  const Read named = read_all({dir.file("c/a.txt.gz"), dir.file("c/b.jsonl.gz")});
  EXPECT_EQ(named.docs, (std::vector<std::string>{"one", "two", "three", "four"}));
  const Read walked = read_all({dir.file("c")});
  EXPECT_EQ(walked.docs, (std::vector<std::string>{"one", "two", "three", "four", "five"}));
  EXPECT_EQ(walked.stats.skipped_files, 1);
}

TEST(DataCorpus, TruncatedGzipIsAnErrorNamingTheFile) {
  TempDir dir;
  const std::string gz = gzip_bytes(std::string(5000, 'x'));
  write(dir.file("cut.txt.gz"), gz.substr(0, gz.size() / 2));
  const std::string msg = error_of([&] { read_all({dir.file("cut.txt.gz")}); });
  EXPECT_NE(msg.find("cut.txt.gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated gzip"), std::string::npos) << msg;
}

TEST(DataCorpus, BinaryFormatsAreRefusedNamingTheFile) {
  TempDir dir;
  write(dir.file("t.parquet"), "PAR1 some text-looking bytes PAR1");
  write(dir.file("t.npy.gz"), gzip_bytes("\x93NUMPY"));
  write(dir.file("blob.dat"), std::string("abc\0def", 7));
  for (const char* name : {"t.parquet", "t.npy.gz", "blob.dat"}) {
    const std::string msg = error_of([&] { CorpusReader r({dir.file(name)}); });
    EXPECT_NE(msg.find(name), std::string::npos) << msg;
    EXPECT_NE(msg.find("convert it to text or JSONL"), std::string::npos) << msg;
  }
}

TEST(DataCorpus, JsonlFieldCheckNamesFileLineAndKeys) {
  TempDir dir;
  write(dir.file("ok.jsonl"), "\n{\"text\": \"a\"}\n{\"content\": \"b\"}\n");
  write(dir.file("other.jsonl.gz"), gzip_bytes("not json\n{\"id\": 1, \"content\": \"b\"}\n"));
  CorpusReader({dir.file("ok.jsonl")}).check_jsonl_fields();  // a later bad record is only skipped
  const std::string msg =
      error_of([&] { CorpusReader({dir.file("ok.jsonl"), dir.file("other.jsonl.gz")}).check_jsonl_fields(); });
  EXPECT_NE(msg.find("other.jsonl.gz:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("its keys: content, id"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--jsonl-field"), std::string::npos) << msg;
  CorpusOptions content;
  content.jsonl_field = "content";
  CorpusReader({dir.file("other.jsonl.gz")}, content).check_jsonl_fields();
}

TEST(DataCorpus, ContentFractionIsStableAndSpread) {
  EXPECT_EQ(corpus_content_fraction("some text", "salt"),
            corpus_content_fraction("some text", "salt"));
  EXPECT_NE(corpus_content_fraction("some text", "salt"),
            corpus_content_fraction("some text", "pepper"));
  double sum = 0;
  int below = 0;
  for (int i = 0; i < 2000; ++i) {
    const double f = corpus_content_fraction("document " + std::to_string(i), "oryx-val");
    ASSERT_GE(f, 0.0);
    ASSERT_LT(f, 1.0);
    sum += f;
    below += f < 0.1;
  }
  EXPECT_NEAR(sum / 2000, 0.5, 0.03);
  EXPECT_NEAR(below, 200, 45);
}

}  // namespace
}  // namespace oryx::testing
