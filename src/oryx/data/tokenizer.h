// Tokenizers: text <-> token ids. Two kinds behind one interface:
//   ByteTokenizer           ids 0..255 are UTF-8 bytes, 256 ends a document (vocab 257). Needs
//                           no file, so the embedded demo and the tests always have one.
//   SentencePieceTokenizer  a trained SentencePiece model (.model), BPE or unigram.
// Every document in a dataset is followed by eod_id(); decode drops it (and any other
// control piece), the way SentencePiece drops </s>.
//
// tokenizer_train sets the SentencePiece options that make encoding lossless for a
// language model: identity normalization (no NFKC, whitespace kept as written), no dummy
// prefix (a line start is encoded the same in training and in a document), byte fallback
// (any UTF-8 encodes, never <unk>) and digits split one by one.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace oryx {

class Tokenizer {
 public:
  virtual ~Tokenizer();
  virtual std::vector<int64_t> encode(std::string_view text) const = 0;
  // Throws oryx::Error on an id outside [0, vocab_size()). Never returns invalid UTF-8.
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t eod_id() const = 0;  // end-of-document token
  virtual std::string name() const = 0;  // "byte" or "sentencepiece:<path>"
};

class ByteTokenizer : public Tokenizer {
 public:
  static constexpr int64_t kEod = 256;
  std::vector<int64_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  int64_t vocab_size() const override { return 257; }
  int64_t eod_id() const override { return kEod; }
  std::string name() const override { return "byte"; }
};

class SentencePieceTokenizer : public Tokenizer {
 public:
  // Throws oryx::Error naming `model_path` if it is missing, not a SentencePiece model, or
  // defines no eos piece to end documents with.
  explicit SentencePieceTokenizer(const std::string& model_path);
  ~SentencePieceTokenizer() override;
  std::vector<int64_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  int64_t vocab_size() const override { return vocab_size_; }
  int64_t eod_id() const override { return eod_id_; }
  std::string name() const override { return "sentencepiece:" + path_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  int64_t vocab_size_ = 0;
  int64_t eod_id_ = 0;
};

// "byte" -> ByteTokenizer; anything else is the path of a SentencePiece .model.
std::unique_ptr<Tokenizer> tokenizer_load(const std::string& spec);

// What identifies a tokenizer across copies of its file: "byte" for the byte tokenizer,
// "sha1:<hex>" of the model file's bytes for SentencePiece; "" for the empty spec (no
// tokenizer). Datasets and checkpoints record it so that data and models made with
// different tokenizers are never mixed. Throws oryx::Error if the file cannot be read.
std::string tokenizer_identity(const std::string& spec);

// Throws a one-line oryx::Error naming both sides when two identities differ. An empty
// identity means "not recorded" (a dataset or checkpoint from an older build, a bare shard,
// a config without a checkpoint): that cannot be checked and passes.
void tokenizer_check_same(const std::string& what_a, const std::string& id_a, const std::string& what_b,
                          const std::string& id_b);

// A source of training text for tokenizer_train: calls `emit` once per document, in any
// order. tokenizer_train splits documents into lines itself.
using DocumentSource = std::function<void(const std::function<void(std::string_view)>& emit)>;

struct TokenizerTrainOptions {
  DocumentSource documents;             // the training text
  std::string output_prefix;            // writes <prefix>.model and <prefix>.vocab
  int64_t vocab_size = 16384;
  std::string model_type = "bpe";       // "bpe" or "unigram"
  double character_coverage = 0.9995;   // rarer characters are left to byte fallback
  int64_t max_sentence_length = 4096;   // bytes; longer lines are cut at spaces
  int64_t input_sentence_size = 2000000;  // lines kept (uniform sample); 0 keeps all
  int64_t threads = 0;                  // 0 = all cores
  bool verbose = false;                 // let SentencePiece log its progress to stderr
};

// Trains a SentencePiece model on the documents `opts.documents` emits, through a temporary
// text file beside the output (<prefix>.train.txt, removed afterwards). Piece 0 is <unk>,
// piece 1 the end-of-document piece </s>; no <s> and no <pad>. Throws oryx::Error on a
// SentencePiece failure (for example a vocabulary larger than the text supports).
void tokenizer_train(const TokenizerTrainOptions& opts);

}  // namespace oryx
