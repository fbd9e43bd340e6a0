// Tokenizers: the byte tokenizer is an exact round trip and never decodes to invalid UTF-8;
// a SentencePiece model trained by tokenizer_train (on a few KB of synthetic text) has the
// reserved pieces we promise and round-trips any UTF-8, including characters it never saw
// (byte fallback) and whitespace (identity normalization, no dummy prefix).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "oryx/common/error.h"
#include "oryx/data/synthetic.h"
#include "oryx/data/tokenizer.h"
#include "oryx/data/utf8.h"
#include "support/temp_dir.h"

namespace oryx::testing {
namespace {

const std::string kReplacement = "\xEF\xBF\xBD";

TEST(DataUtf8, AcceptsValidRejectsInvalid) {
  EXPECT_TRUE(utf8_valid("plain ascii"));
  EXPECT_TRUE(utf8_valid("h\xC3\xA9llo \xE4\xB8\x96 \xF0\x9F\xA6\x8A"));  // é 世 🦊
  size_t at = 0;
  EXPECT_FALSE(utf8_valid("ab\xC0\xAF", &at));  // overlong '/'
  EXPECT_EQ(at, 2u);
  EXPECT_FALSE(utf8_valid("\xED\xA0\x80"));      // a surrogate
  EXPECT_FALSE(utf8_valid("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(utf8_valid("x\xE4\xB8"));         // cut short
}

TEST(DataUtf8, SanitizeReplacesMaximalSubparts) {
  EXPECT_EQ(utf8_sanitize("ok \xC3\xA9"), "ok \xC3\xA9");
  EXPECT_EQ(utf8_sanitize("a\xE4\xB8z"), "a" + kReplacement + "z");  // one truncated sequence
  EXPECT_EQ(utf8_sanitize("\xFF\xFE"), kReplacement + kReplacement);
  EXPECT_EQ(utf8_sanitize("\xED\xA0\x80"), kReplacement + kReplacement + kReplacement);
}

TEST(DataTokenizer, ByteRoundTripMultibyte) {
  ByteTokenizer tok;
  EXPECT_EQ(tok.vocab_size(), 257);
  EXPECT_EQ(tok.eod_id(), 256);
  const std::string text = "Caf\xC3\xA9 \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\xA6\x8A\n\ttab";
  const auto ids = tok.encode(text);
  ASSERT_EQ(ids.size(), text.size());
  EXPECT_EQ(ids[3], 0xC3);
  EXPECT_EQ(tok.decode(ids), text);
}

TEST(DataTokenizer, ByteDecodeDropsEodAndRepairsInvalid) {
  ByteTokenizer tok;
  EXPECT_EQ(tok.decode({'h', 'i', ByteTokenizer::kEod, '!'}), "hi!");
  // A lone lead byte (the first half of é) decodes to U+FFFD, not to invalid text.
  EXPECT_EQ(tok.decode({'a', 0xC3, 'b'}), "a" + kReplacement + "b");
  EXPECT_THROW(tok.decode({257}), Error);
  EXPECT_THROW(tok.decode({-1}), Error);
}

TEST(DataTokenizer, LoadSpecAndErrors) {
  EXPECT_EQ(tokenizer_load("byte")->name(), "byte");
  TempDir dir;
  try {
    tokenizer_load(dir.file("missing.model"));
    FAIL() << "no error for a missing model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.model"), std::string::npos) << e.what();
  }
  std::ofstream(dir.file("junk.model")) << "this is not a protobuf";
  try {
    tokenizer_load(dir.file("junk.model"));
    FAIL() << "no error for a file that is not a model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a SentencePiece model"), std::string::npos)
        << e.what();
  }
}

TEST(DataTokenizer, TrainTinySentencePieceRoundTrip) {
  TempDir dir;
  SyntheticOptions syn;
  syn.documents = 20;
  syn.doc_chars = 1000;
  TokenizerTrainOptions opts;
  opts.output_prefix = dir.file("tiny");
  opts.vocab_size = 600;
  opts.threads = 1;
  opts.documents = [&](const std::function<void(std::string_view)>& emit) {
    synthetic_documents(syn, [&](const std::string& doc) { emit(doc); });
  };
  tokenizer_train(opts);
  EXPECT_TRUE(std::filesystem::exists(dir.file("tiny.model")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("tiny.train.txt")));  // temporary removed

  SentencePieceTokenizer tok(dir.file("tiny.model"));
  EXPECT_EQ(tok.vocab_size(), 600);
  EXPECT_EQ(tok.eod_id(), 1);
  const std::string seen = synthetic_document(syn, 3);
  const auto ids = tok.encode(seen);
  EXPECT_LT(ids.size(), seen.size() / 2) << "merges should compress text like the training text";
  EXPECT_EQ(tok.decode(ids), seen);
  // Never-seen characters, tabs, runs of spaces, a leading space and blank lines survive.
  const std::string unseen = " Z\xC3\xBCrich \xE2\x9C\x93\n\n\tindented    code  \xF0\x9F\xA6\x8A";
  EXPECT_EQ(tok.decode(tok.encode(unseen)), unseen);
  auto with_eod = tok.encode("cat");
  with_eod.push_back(tok.eod_id());
  EXPECT_EQ(tok.decode(with_eod), "cat");
}

TEST(DataTokenizer, TrainRejectsTinyVocabulary) {
  TempDir dir;
  TokenizerTrainOptions opts;
  opts.output_prefix = dir.file("t");
  opts.vocab_size = 100;
  opts.documents = [](const std::function<void(std::string_view)>& emit) { emit("a b c"); };
  EXPECT_THROW(tokenizer_train(opts), Error);
}

}  // namespace
}  // namespace oryx::testing
