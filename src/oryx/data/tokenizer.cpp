#include "oryx/data/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <c10/util/hash.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>
#include <unordered_map>

#include "oryx/common/error.h"
#include "oryx/data/utf8.h"

namespace oryx {

Tokenizer::~Tokenizer() = default;

// ---- ByteTokenizer ----

std::vector<int64_t> ByteTokenizer::encode(std::string_view text) const {
  std::vector<int64_t> ids(text.size());
  for (size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
  return ids;
}

std::string ByteTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string bytes;
  bytes.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const int64_t id = ids[i];
    ORYX_CHECK(id >= 0 && id < vocab_size(), "byte tokenizer: token id ", id, " at position ", i,
               " is outside the vocabulary [0, ", vocab_size(), ")");
    if (id != kEod) bytes.push_back(static_cast<char>(id));
  }
  // A model can emit any byte sequence; a partial character must not leak out as invalid text.
  return utf8_sanitize(bytes);
}

// ---- SentencePieceTokenizer ----

struct SentencePieceTokenizer::Impl {
  sentencepiece::SentencePieceProcessor sp;
};

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_path)
    : impl_(std::make_unique<Impl>()), path_(model_path) {
  std::error_code ec;
  ORYX_CHECK(std::filesystem::is_regular_file(model_path, ec), "tokenizer model not found: ",
             model_path, " (pass --tokenizer byte, or the path of a SentencePiece .model)");
  const auto status = impl_->sp.Load(model_path);
  ORYX_CHECK(status.ok(), model_path, ": not a SentencePiece model (", status.ToString(), ")");
  vocab_size_ = impl_->sp.GetPieceSize();
  eod_id_ = impl_->sp.eos_id();
  ORYX_CHECK(eod_id_ >= 0, model_path,
             ": the model has no end-of-document (eos) piece; train one with "
             "`oryx prepare --train-tokenizer` or with SentencePiece's --eos_id >= 0");
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::vector<int64_t> SentencePieceTokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  const auto status = impl_->sp.Encode(text, &ids);
  ORYX_CHECK(status.ok(), path_, ": encode failed (", status.ToString(), ")");
  return std::vector<int64_t>(ids.begin(), ids.end());
}

std::string SentencePieceTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::vector<int> narrow(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    ORYX_CHECK(ids[i] >= 0 && ids[i] < vocab_size_, path_, ": token id ", ids[i], " at position ",
               i, " is outside the vocabulary [0, ", vocab_size_, ")");
    narrow[i] = static_cast<int>(ids[i]);
  }
  std::string text;
  const auto status = impl_->sp.Decode(narrow, &text);
  ORYX_CHECK(status.ok(), path_, ": decode failed (", status.ToString(), ")");
  // Byte-fallback pieces can spell a partial character; SentencePiece substitutes U+FFFD
  // for those itself, and this keeps the promise whatever its version does.
  return utf8_sanitize(text);
}

std::unique_ptr<Tokenizer> tokenizer_load(const std::string& spec) {
  ORYX_CHECK(!spec.empty(), "empty tokenizer spec: pass \"byte\" or the path of a .model file");
  if (spec == "byte") return std::make_unique<ByteTokenizer>();
  return std::make_unique<SentencePieceTokenizer>(spec);
}

std::string tokenizer_identity(const std::string& spec) {
  if (spec.empty() || spec == "byte") return spec;
  std::ifstream in(spec, std::ios::binary);
  ORYX_CHECK(in, "tokenizer model not found: ", spec);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  ORYX_CHECK(!in.bad(), "cannot read tokenizer model ", spec);
  return "sha1:" + c10::sha1(bytes).str();
}

void tokenizer_check_same(const std::string& what_a, const std::string& id_a, const std::string& what_b,
                          const std::string& id_b) {
  if (id_a.empty() || id_b.empty()) return;  // not recorded on one side: nothing to compare
  ORYX_CHECK(id_a == id_b, "tokenizer mismatch: ", what_a, " uses tokenizer ", id_a, " but ", what_b,
             " uses ", id_b);
}

// ---- training ----

namespace {

// Writes `line` to `out` in pieces of at most `max_len` bytes. SentencePiece drops longer
// sentences outright; cutting before a space keeps the space at the start of the next
// piece, where it would be in running text, and a cut never splits a UTF-8 character.
void write_line_pieces(std::ofstream& out, std::string_view line, size_t max_len) {
  while (line.size() > max_len) {
    size_t cut = line.rfind(' ', max_len);
    if (cut == std::string_view::npos || cut == 0) {
      cut = max_len;
      while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
      if (cut == 0) cut = max_len;
    }
    out << line.substr(0, cut) << '\n';
    line.remove_prefix(cut);
  }
  if (!line.empty()) out << line << '\n';
}

}  // namespace

void tokenizer_train(const TokenizerTrainOptions& opts) {
  ORYX_CHECK(!opts.output_prefix.empty(), "tokenizer_train: no output prefix");
  ORYX_CHECK(opts.documents, "tokenizer_train: no document source");
  ORYX_CHECK(opts.model_type == "bpe" || opts.model_type == "unigram",
             "tokenizer model type must be bpe or unigram, got '", opts.model_type, "'");
  // 256 byte pieces + <unk> + </s>, and room for at least some merges.
  ORYX_CHECK(opts.vocab_size > 260, "tokenizer vocabulary size must exceed 260 (256 byte-fallback "
             "pieces, <unk>, </s> and learned pieces), got ", opts.vocab_size);
  ORYX_CHECK(opts.character_coverage > 0 && opts.character_coverage <= 1,
             "tokenizer character coverage must be in (0, 1], got ", opts.character_coverage);
  ORYX_CHECK(opts.max_sentence_length >= 16, "tokenizer max sentence length must be >= 16, got ",
             opts.max_sentence_length);
  ORYX_CHECK(opts.input_sentence_size >= 0, "tokenizer input sentence size must be >= 0, got ",
             opts.input_sentence_size);

  const std::string text_path = opts.output_prefix + ".train.txt";
  struct RemoveOnExit {
    std::string path;
    ~RemoveOnExit() {
      std::error_code ec;
      std::filesystem::remove(path, ec);
    }
  } cleanup{text_path};

  int64_t lines = 0;
  {
    std::ofstream out(text_path, std::ios::binary);
    ORYX_CHECK(out, "cannot write the tokenizer training text ", text_path);
    const auto max_len = static_cast<size_t>(opts.max_sentence_length);
    opts.documents([&](std::string_view doc) {
      while (!doc.empty()) {
        const size_t nl = doc.find('\n');
        const std::string_view line = doc.substr(0, nl);
        if (!line.empty()) {
          write_line_pieces(out, line, max_len);
          ++lines;
        }
        if (nl == std::string_view::npos) break;
        doc.remove_prefix(nl + 1);
      }
    });
    out.close();
    ORYX_CHECK(out, "failed writing the tokenizer training text ", text_path);
  }
  ORYX_CHECK(lines > 0, "no text to train the tokenizer on");

  const int64_t threads = opts.threads > 0
                              ? opts.threads
                              : std::max<int64_t>(1, std::thread::hardware_concurrency());
  const std::unordered_map<std::string, std::string> args = {
      {"input", text_path},
      {"model_prefix", opts.output_prefix},
      {"model_type", opts.model_type},
      {"vocab_size", std::to_string(opts.vocab_size)},
      {"character_coverage", std::to_string(opts.character_coverage)},
      {"max_sentence_length", std::to_string(opts.max_sentence_length)},
      {"input_sentence_size", std::to_string(opts.input_sentence_size)},
      {"shuffle_input_sentence", "true"},
      {"num_threads", std::to_string(threads)},
      {"byte_fallback", "true"},
      {"split_digits", "true"},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"add_dummy_prefix", "false"},
      // Runs of spaces (code indentation) become pieces instead of one piece per space.
      {"allow_whitespace_only_pieces", "true"},
      {"unk_id", "0"},
      {"eos_id", "1"},
      {"bos_id", "-1"},
      {"pad_id", "-1"},
      {"minloglevel", opts.verbose ? "0" : "2"},
  };
  const auto status = sentencepiece::SentencePieceTrainer::Train(args);
  ORYX_CHECK(status.ok(), "SentencePiece training failed for ", opts.output_prefix, ".model: ",
             status.message());
}

}  // namespace oryx
