// A synthetic corpus the project can always make itself (embedded demo, tests). Each
// document is a run of blocks of two kinds:
//
//   prose   a paragraph of sentences from a small grammar with number agreement, e.g.
//           "The small cats follow a red river near the old house." Local structure any
//           mixer can learn.
//   recall  associative recall: a list of fresh "key: value" pairs, a few prose sentences,
//           then every key queried once, in another order, with its answer:
//               facts:
//               mipo: 417
//               zekat: lum
//               The dog sees a tree.
//               recall:
//               zekat? lum
//               mipo? 417
//           A value is predictable only by recalling its pair from earlier in the document,
//           which is what attention is good at and a fixed-size state finds hard.
//
// Keys are unique within a document, so every query has exactly one answer. Generation uses
// its own generator (splitmix64), so a seed gives the same text on every platform, and
// document i depends only on (seed, i).
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace oryx {

struct SyntheticOptions {
  uint64_t seed = 1;
  int64_t documents = 1000;
  int64_t doc_chars = 2000;       // a document ends with the block that reaches this length
  double recall_fraction = 0.5;   // chance that a block is a recall block rather than prose
  int64_t pairs = 8;              // key-value pairs per recall block
  int64_t gap_sentences = 2;      // prose sentences between the pairs and their queries
};

// Document `index` (0-based) of the corpus `opts` describes.
std::string synthetic_document(const SyntheticOptions& opts, int64_t index);

// Calls `emit` with documents 0 .. opts.documents-1 in order.
void synthetic_documents(const SyntheticOptions& opts,
                         const std::function<void(const std::string&)>& emit);

}  // namespace oryx
