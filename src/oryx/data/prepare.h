// Corpus -> dataset folder (shard.h), the work behind `oryx prepare`.
//
// Passes over the input, each streamed (one document, or one encoding batch, in memory):
//   1. tokenizer text (only with train_tokenizer): the train documents, or a sample of about
//      tokenizer_sample_bytes of them picked by content hash (a counting pass first finds
//      the sampling rate), go to tokenizer_train;
//   2. tokenization: documents are encoded in parallel batches (at::parallel_for, so
//      at::set_num_threads sets the width), each followed by the end-of-document token,
//      and appended in input order to the split's shards.
// Splits: with val_inputs, those are "val" and all of `inputs` is "train"; otherwise a
// document is "val" when corpus_content_fraction(text, "oryx-val") < val_fraction, which
// depends only on its content (stable under reordering and re-runs, like MANIFEST.md's
// split). An empty train split is an error; a hash split that leaves val empty (a tiny
// corpus) gives a dataset without "val" and a notice through corpus.warn.
// meta.json is written last, so a folder without it is an unfinished dataset.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "oryx/data/corpus.h"
#include "oryx/data/synthetic.h"
#include "oryx/data/tokenizer.h"

namespace oryx {

struct PrepareOptions {
  std::vector<std::string> inputs;            // files and folders (see corpus.h)
  std::optional<SyntheticOptions> synthetic;  // instead of inputs: the built-in corpus
  std::vector<std::string> val_inputs;        // explicit validation source
  double val_fraction = 0.01;                 // used without val_inputs; 0: no val split

  std::string tokenizer = "byte";             // tokenizer_load spec, unless training one
  bool train_tokenizer = false;
  TokenizerTrainOptions tokenizer_options;    // output_prefix and documents are set here
  int64_t tokenizer_sample_bytes = 0;         // 0: train on every train document

  std::string out_dir;
  bool overwrite = false;  // replace a dataset already in out_dir
  int64_t shard_tokens = 100'000'000;
  CorpusOptions corpus;    // its warn also receives prepare's own notices
  bool progress = true;    // progress bars on stderr
};

struct PrepareSplitSummary {
  int64_t bytes = 0;       // UTF-8 bytes of the documents
  int64_t documents = 0;
  int64_t skipped = 0;     // bad documents (see corpus.h)
  int64_t empty = 0;
  int64_t tokens = 0;      // including one end-of-document token per document
  int64_t shards = 0;
  double seconds = 0;      // wall time of the pass that wrote the split
  double tokens_per_second() const { return seconds > 0 ? tokens / seconds : 0; }
};

struct PrepareSummary {
  std::string out_dir;
  std::string tokenizer;  // as in meta.json: "byte" or "tokenizer.model"
  int64_t vocab_size = 0;
  int64_t eod_id = 0;
  double tokenizer_seconds = 0;  // training the tokenizer (0 if none was trained)
  double seconds = 0;            // everything
  std::map<std::string, PrepareSplitSummary> splits;
  nlohmann::json to_json() const;
};

PrepareSummary dataset_prepare(const PrepareOptions& opts);

}  // namespace oryx
