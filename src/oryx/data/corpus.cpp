#include "oryx/data/corpus.h"

#include <nlohmann/json.hpp>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "oryx/common/error.h"
#include "oryx/common/gzip_file.h"
#include "oryx/data/utf8.h"

namespace fs = std::filesystem;

namespace oryx {
namespace {

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

bool is_jsonl(const std::string& path) {
  return ends_with(path, ".jsonl") || ends_with(path, ".jsonl.zst") || ends_with(path, ".jsonl.gz");
}

bool is_zstd(const std::string& path) { return ends_with(path, ".zst"); }

// Names a directory walk takes; .zst and .gz cover .txt.zst, .jsonl.gz and the like.
bool is_corpus_name(const std::string& name) {
  for (const char* ext : {".txt", ".md", ".text", ".jsonl", ".zst", ".gz"})
    if (ends_with(name, ext)) return true;
  return false;
}

// Binary formats that a text reader would turn into garbage documents, by extension
// (after any .gz or .zst), refused by name instead.
const char* binary_format_of(std::string name) {
  for (const char* z : {".gz", ".zst"})
    if (ends_with(name, z)) name.resize(name.size() - std::strlen(z));
  for (const char* ext : {".parquet", ".arrow", ".feather", ".bin", ".npy", ".npz", ".pt", ".pth", ".ckpt",
                          ".safetensors", ".pkl", ".pickle", ".h5", ".hdf5", ".tfrecord", ".model", ".zip",
                          ".tar", ".7z", ".xz", ".bz2", ".lz4", ".pdf", ".png", ".jpg", ".jpeg", ".gif"})
    if (ends_with(name, ext)) return ext;
  return nullptr;
}

// Refuses a file named directly that is a binary format: by extension, or by a NUL byte
// among its first bytes (text never holds one; UTF-16 and binary data do).
void check_text_input(const std::string& path) {
  if (const char* ext = binary_format_of(path))
    ORYX_FAIL(path, ": ", ext, " is not a corpus format (read: text, .jsonl, and either compressed as "
              ".gz or .zst); convert it to text or JSONL first");
  if (is_zstd(path)) return;
  GzipFile f(path);
  std::vector<char> head(1 << 16);
  const size_t n = f.read(head.data(), head.size());
  const auto* nul = static_cast<const char*>(std::memchr(head.data(), '\0', n));
  ORYX_CHECK(!nul, path, ": binary data (a NUL byte at offset ", nul - head.data(),
             "), not text or JSONL; convert it to text or JSONL first");
}

bool is_blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

}  // namespace

// One input file as a sequence of lines, decompressing .zst and gzip on the fly.
class CorpusReader::FileStream {
 public:
  FileStream(std::string path, int64_t* disk_bytes)
      : path_(std::move(path)), disk_bytes_(disk_bytes) {
    if (!is_zstd(path_)) {
      gzip_ = std::make_unique<GzipFile>(path_);
      out_.resize(1 << 20);
      return;
    }
    file_ = std::fopen(path_.c_str(), "rb");
    ORYX_CHECK(file_, "cannot open ", path_, ": ", std::strerror(errno));
    zstd_ = ZSTD_createDStream();
    if (!zstd_) std::fclose(file_);  // the destructor does not run for a throwing constructor
    ORYX_CHECK(zstd_, "out of memory creating a zstd stream for ", path_);
    ZSTD_initDStream(zstd_);
    in_.resize(ZSTD_DStreamInSize());
    out_.resize(ZSTD_DStreamOutSize());
  }
  ~FileStream() {
    if (zstd_) ZSTD_freeDStream(zstd_);
    if (file_) std::fclose(file_);
  }

  // The next line without its '\n'; false once the file is exhausted. A last line with no
  // newline still counts as a line.
  bool getline(std::string& line) {
    line.clear();
    bool any = false;
    for (;;) {
      if (pos_ == end_) {
        end_ = fill();
        pos_ = 0;
        if (end_ == 0) {
          if (any) ++line_;
          return any;
        }
      }
      any = true;
      const char* start = out_.data() + pos_;
      const auto* nl = static_cast<const char*>(std::memchr(start, '\n', end_ - pos_));
      if (nl) {
        line.append(start, nl);
        pos_ += static_cast<size_t>(nl - start) + 1;
        ++line_;
        return true;
      }
      line.append(start, end_ - pos_);
      pos_ = end_;
    }
  }

  int64_t line() const { return line_; }  // number of the line last returned, from 1
  const std::string& path() const { return path_; }

 private:
  size_t read_disk(char* buf, size_t n) {
    const size_t got = std::fread(buf, 1, n, file_);
    ORYX_CHECK(got > 0 || !std::ferror(file_), "cannot read ", path_, ": ", std::strerror(errno));
    *disk_bytes_ += static_cast<int64_t>(got);
    return got;
  }

  // Refills out_; returns the number of bytes now in it, 0 at the end of the file.
  size_t fill() {
    if (gzip_) {
      const size_t got = gzip_->read(out_.data(), out_.size());
      const int64_t offset = gzip_->disk_offset();
      *disk_bytes_ += offset - gzip_offset_;
      gzip_offset_ = offset;
      return got;
    }
    for (;;) {
      if (zin_.pos == zin_.size) {
        const size_t got = read_disk(in_.data(), in_.size());
        if (got == 0) {
          // A non-zero hint from the last call means the frame was cut short.
          ORYX_CHECK(frame_done_, path_, ": truncated zstd data (the file ends inside a frame)");
          return 0;
        }
        zin_ = {in_.data(), got, 0};
      }
      ZSTD_outBuffer zout{out_.data(), out_.size(), 0};
      const size_t ret = ZSTD_decompressStream(zstd_, &zout, &zin_);
      ORYX_CHECK(!ZSTD_isError(ret), path_, ": not valid zstd data (", ZSTD_getErrorName(ret), ")");
      frame_done_ = ret == 0;
      if (zout.pos > 0) return zout.pos;
    }
  }

  std::string path_;
  int64_t* disk_bytes_;
  std::unique_ptr<GzipFile> gzip_;  // plain text or gzip
  int64_t gzip_offset_ = 0;
  std::FILE* file_ = nullptr;        // zstd
  ZSTD_DStream* zstd_ = nullptr;
  std::vector<char> in_, out_;
  ZSTD_inBuffer zin_{nullptr, 0, 0};
  bool frame_done_ = true;  // an empty .zst file holds no frame and is simply empty
  size_t pos_ = 0, end_ = 0;
  int64_t line_ = 0;
};

CorpusReader::CorpusReader(const std::vector<std::string>& paths, CorpusOptions opts)
    : opts_(std::move(opts)) {
  ORYX_CHECK(!paths.empty(), "no corpus input given");
  for (const auto& p : paths) {
    std::error_code ec;
    const auto st = fs::status(p, ec);
    ORYX_CHECK(fs::exists(st), "input not found: ", p);
    if (fs::is_regular_file(st)) {
      check_text_input(p);
      files_.push_back(p);
      continue;
    }
    ORYX_CHECK(fs::is_directory(st), "input is neither a file nor a directory: ", p);
    std::vector<std::string> found, skipped;
    for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      const std::string name = it->path().filename().string();
      const bool dir = it->is_directory(ec);
      if (name.empty() || name[0] == '.') {
        if (dir) it.disable_recursion_pending();
        skipped.push_back(it->path().string());
      } else if (!dir) {
        (is_corpus_name(name) && !binary_format_of(name) && it->is_regular_file(ec) ? found : skipped)
            .push_back(it->path().string());
      }
    }
    ORYX_CHECK(!ec, "cannot list directory ", p, ": ", ec.message());
    // Sorted so that the document order, and so the shards, do not depend on the file system.
    std::sort(found.begin(), found.end());
    std::sort(skipped.begin(), skipped.end());
    files_.insert(files_.end(), found.begin(), found.end());
    stats_.skipped_files += static_cast<int64_t>(skipped.size());
    if (!skipped.empty() && opts_.warn) {
      std::string examples;
      for (size_t i = 0; i < skipped.size() && i < 3; ++i)
        examples += (i ? ", " : "") + skipped[i];
      opts_.warn(p + ": skipped " + std::to_string(skipped.size()) +
                 " entries that are hidden or not .txt/.md/.text/.jsonl/.gz/.zst (" + examples +
                 (skipped.size() > 3 ? ", ..." : "") + ")");
    }
    if (found.empty() && opts_.warn) opts_.warn(p + ": directory holds no corpus files");
  }
  for (const auto& f : files_) {
    std::error_code ec;
    total_input_bytes_ += static_cast<int64_t>(fs::file_size(f, ec));
  }
}

CorpusReader::~CorpusReader() = default;

void CorpusReader::check_jsonl_fields() const {
  // Only the first record that is a JSON object is looked at: a later bad record is skipped
  // and reported like any bad document, but a file whose records name the text otherwise
  // would be skipped whole (or, worse, only after a tokenizer was trained without it).
  constexpr int kLinesLooked = 100;
  for (const auto& path : files_) {
    if (!is_jsonl(path)) continue;
    int64_t disk_bytes = 0;
    FileStream stream(path, &disk_bytes);
    std::string line;
    for (int looked = 0; looked < kLinesLooked && stream.getline(line);) {
      if (is_blank(line)) continue;
      ++looked;
      const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.is_object()) continue;
      const auto it = j.find(opts_.jsonl_field);
      if (it != j.end() && it->is_string()) break;
      std::string keys;
      for (const auto& [k, v] : j.items()) keys += (keys.empty() ? "" : ", ") + k;
      ORYX_FAIL(path, ":", stream.line(), ": the JSONL record has no string field \"", opts_.jsonl_field,
                "\" (its keys: ", keys.empty() ? "none" : keys, "); name the text field with --jsonl-field");
    }
  }
}

bool CorpusReader::open_next_file() {
  stream_.reset();
  if (next_file_ == files_.size()) return false;
  const std::string& path = files_[next_file_++];
  stream_ = std::make_unique<FileStream>(path, &stats_.input_bytes);
  jsonl_ = is_jsonl(path);
  ++stats_.files;
  return true;
}

void CorpusReader::skip(const std::string& why) {
  ++stats_.skipped;
  if (!opts_.warn) return;
  if (stats_.skipped <= opts_.max_reported)
    opts_.warn("skipped " + why);
  else if (stats_.skipped == opts_.max_reported + 1)
    opts_.warn("more documents skipped; the rest are only counted");
}

// Reads up to the next separator line or the end of the file into text_; false if the
// file had nothing left. Invalid documents are skipped here and reading goes on.
bool CorpusReader::next_text_document() {
  std::string line;
  for (;;) {
    text_.clear();
    const int64_t first_line = stream_->line() + 1;
    bool any = false, separated = false;
    int64_t bad_line = 0;
    size_t bad_offset = 0;
    while (stream_->getline(line)) {
      if (line == "\x1e" || line == "\x1e\r") {
        separated = true;
        break;
      }
      if (any) text_ += '\n';
      any = true;
      if (bad_line == 0 && !utf8_valid(line, &bad_offset)) bad_line = stream_->line();
      text_ += line;
    }
    if (!any && !separated) return false;
    if (bad_line != 0) {
      skip(stream_->path() + ":" + std::to_string(bad_line) + ": invalid UTF-8 at byte " +
           std::to_string(bad_offset + 1) + " of the line (document starting at line " +
           std::to_string(first_line) + ")");
    } else if (is_blank(text_)) {
      ++stats_.empty;
    } else {
      return true;
    }
  }
}

bool CorpusReader::next_jsonl_document() {
  std::string line;
  while (stream_->getline(line)) {
    if (is_blank(line)) continue;
    const std::string where = stream_->path() + ":" + std::to_string(stream_->line());
    size_t bad_offset = 0;
    if (!utf8_valid(line, &bad_offset)) {
      skip(where + ": invalid UTF-8 at byte " + std::to_string(bad_offset + 1) + " of the record");
      continue;
    }
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      skip(where + ": not valid JSON");
      continue;
    }
    if (!j.is_object()) {
      skip(where + ": record is " + j.type_name() + ", not a JSON object");
      continue;
    }
    const auto it = j.find(opts_.jsonl_field);
    if (it == j.end() || !it->is_string()) {
      skip(where + ": record has no string field \"" + opts_.jsonl_field + "\"");
      continue;
    }
    text_ = it->get<std::string>();
    if (is_blank(text_)) {
      ++stats_.empty;
      continue;
    }
    return true;
  }
  return false;
}

bool CorpusReader::next() {
  for (;;) {
    if (!stream_ && !open_next_file()) break;
    if (jsonl_ ? next_jsonl_document() : next_text_document()) {
      ++stats_.documents;
      stats_.bytes += static_cast<int64_t>(text_.size());
      return true;
    }
    stream_.reset();
  }
  text_.clear();
  std::string inputs;
  for (size_t i = 0; i < files_.size() && i < 3; ++i) inputs += (i ? ", " : "") + files_[i];
  if (files_.size() > 3) inputs += ", ...";
  ORYX_CHECK(stats_.documents > 0, "empty corpus: no documents in ", files_.size(), " file(s) [",
             inputs, "] (", stats_.skipped, " skipped as invalid, ", stats_.empty, " empty)");
  return false;
}

CorpusStats corpus_for_each(const std::vector<std::string>& paths, const CorpusOptions& opts,
                            const std::function<void(const std::string&)>& emit) {
  CorpusReader reader(paths, opts);
  while (reader.next()) emit(reader.text());
  return reader.stats();
}

double corpus_content_fraction(std::string_view text, std::string_view salt) {
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 0x100000001b3ULL;
    }
  };
  mix(salt);
  mix(":");
  mix(text);
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

}  // namespace oryx
