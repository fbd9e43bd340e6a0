// Streaming document readers: one document in memory at a time, whatever the corpus size.
//
// Formats, chosen by file name:
//   *.jsonl, *.jsonl.zst,  one JSON object per line; the document is its text field
//   *.jsonl.gz             (CorpusOptions::jsonl_field, default "text"); blank lines ignored
//   *.zst                  zstd-compressed text (streamed through ZSTD_decompressStream)
//   anything else          plain text, gzip-compressed or not (recognised by its header, so
//                          *.txt.gz and *.gz read as text)
// Binary formats are refused by name, naming the file: a file named directly whose
// extension (after .gz/.zst) is .parquet, .arrow, .bin, .npy, .pt, .safetensors, .zip ...,
// or whose first 64 KiB hold a NUL byte.
// Text (compressed or not) holds documents separated by a line holding only 0x1E (the
// format of /work/shared/corpus, MANIFEST.md): "doc1\n\x1e\ndoc2\n". A file with no
// separator is one document. A document's text excludes its final newline.
//
// A directory is read recursively in sorted path order, taking only files whose names end
// in .txt .md .text .jsonl .zst .gz (and so .txt.zst, .jsonl.gz), binary formats excepted
// (x.npy.gz); other files and hidden entries (names starting with '.') are skipped and
// reported through CorpusOptions::warn. A file named directly is read whatever its name,
// unless it is a binary format (above).
//
// Bad documents (invalid UTF-8; a JSONL line that does not parse, is not an object or has
// no string text field) are counted and skipped, never silently: the first
// CorpusOptions::max_reported are reported one by one through `warn` with file and line,
// then one notice that the rest are only counted. Empty documents are counted apart.
// A missing path, corrupt zstd or gzip data, or a corpus that yields no document is an error.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace oryx {

struct CorpusOptions {
  std::string jsonl_field = "text";
  int64_t max_reported = 5;
  // Receives skip reports and notices, one line each (no trailing newline). Unset: dropped
  // (the counts in CorpusStats remain).
  std::function<void(const std::string&)> warn;
};

struct CorpusStats {
  int64_t files = 0;          // files opened so far
  int64_t input_bytes = 0;    // bytes read from disk so far (compressed size for .zst)
  int64_t bytes = 0;          // UTF-8 bytes of the documents delivered
  int64_t documents = 0;      // documents delivered
  int64_t skipped = 0;        // bad documents skipped
  int64_t empty = 0;          // empty documents dropped
  int64_t skipped_files = 0;  // directory entries not read (extension, hidden)
};

class CorpusReader {
 public:
  // Resolves `paths` (files and directories) into the file list at once, so a missing path
  // fails before any work.
  explicit CorpusReader(const std::vector<std::string>& paths, CorpusOptions opts = {});
  ~CorpusReader();
  CorpusReader(const CorpusReader&) = delete;
  CorpusReader& operator=(const CorpusReader&) = delete;

  // Throws oryx::Error naming file and line when a JSONL input's first record (the first
  // line that is a JSON object) has no string field jsonl_field: a wrong field name would
  // otherwise skip every record of the file. Reads a few lines of each JSONL file.
  void check_jsonl_fields() const;

  // Moves to the next good document; false at the end of the corpus. Throws oryx::Error at
  // the end if the corpus produced no document at all.
  bool next();
  const std::string& text() const { return text_; }

  const CorpusStats& stats() const { return stats_; }
  int64_t total_input_bytes() const { return total_input_bytes_; }  // sum of file sizes

 private:
  class FileStream;
  bool open_next_file();
  bool next_text_document();
  bool next_jsonl_document();
  void skip(const std::string& why);

  CorpusOptions opts_;
  std::vector<std::string> files_;
  int64_t total_input_bytes_ = 0;
  size_t next_file_ = 0;
  std::unique_ptr<FileStream> stream_;
  bool jsonl_ = false;
  std::string text_;
  CorpusStats stats_;
};

// Reads every document of `paths`, calling `emit(text)` for each; returns the totals.
CorpusStats corpus_for_each(const std::vector<std::string>& paths, const CorpusOptions& opts,
                            const std::function<void(const std::string&)>& emit);

// A stable pseudo-random number in [0, 1) from a document's content and a salt, for
// content-based splits (a document falls in the validation split when this is below the
// validation fraction) that do not depend on document order or platform: FNV-1a 64 over
// salt and text, then the splitmix64 finalizer.
double corpus_content_fraction(std::string_view text, std::string_view salt);

}  // namespace oryx
