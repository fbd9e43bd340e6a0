// Token shards and datasets on disk.
//
// A shard is a 32-byte header then the tokens, little-endian:
//   offset  0  char[8]  magic "ORYXTOK\0"
//   offset  8  uint32   version (1)
//   offset 12  uint32   bytes per token: 2 when vocab_size <= 65536, else 4
//   offset 16  uint64   token count
//   offset 24  uint64   vocab size
//   offset 32  tokens
// The reader maps the file (mmap) and checks the header against the file size, so a
// truncated or foreign file fails on open, naming the file.
//
// A dataset is a folder written by `oryx prepare`:
//   meta.json        {"format": "oryx-shards", "version": 1, "vocab_size", "eod_id",
//                     "tokenizer": "byte" | "tokenizer.model",
//                     "tokenizer_id": "byte" | "sha1:<hex>" (tokenizer_identity; datasets
//                     from older builds lack it, and theirs is computed from the copy),
//                     "splits": {"train": {"shards": [...], "tokens", "documents"}, "val": ...}}
//   train-00000.bin  ...  val-00000.bin  ...
//   tokenizer.model  (a copy, when the tokenizer is SentencePiece)
// Each split is one token stream: its shards concatenated in the listed order, every
// document followed by eod_id.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace oryx {

constexpr uint32_t kShardVersion = 1;
constexpr int64_t kShardHeaderBytes = 32;

// Bytes per stored token for a vocabulary of `vocab_size` ids.
int shard_bytes_per_token(int64_t vocab_size);

class ShardWriter {
 public:
  // Writes to "<path>.tmp"; close() fills in the count and renames it to `path`, so a
  // shard that exists under its name is always complete.
  ShardWriter(std::string path, int64_t vocab_size);
  ~ShardWriter();  // without close(), removes the temporary file
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Appends ids, each in [0, vocab_size).
  void append(const int64_t* ids, size_t n);
  void append(const std::vector<int64_t>& ids) { append(ids.data(), ids.size()); }
  void close();
  int64_t size() const { return count_; }
  const std::string& path() const { return path_; }

 private:
  void flush();

  std::string path_, tmp_path_;
  int64_t vocab_size_;
  int bytes_per_token_;
  int64_t count_ = 0;
  std::FILE* file_ = nullptr;
  std::vector<unsigned char> buffer_;
};

class ShardReader {
 public:
  explicit ShardReader(std::string path);  // maps and validates the header
  ~ShardReader();
  ShardReader(ShardReader&& other) noexcept;
  ShardReader& operator=(ShardReader&& other) noexcept;
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;

  int64_t size() const { return count_; }
  int64_t vocab_size() const { return vocab_size_; }
  int bytes_per_token() const { return bytes_per_token_; }
  const std::string& path() const { return path_; }

  // Copies tokens [offset, offset + n) into out[0..n).
  void read(int64_t offset, int64_t n, int64_t* out) const;
  int64_t at(int64_t i) const;
  // Scans every token (a max-reduction over the mapped file, memory-bandwidth bound; free
  // when the vocabulary fills the token width); throws oryx::Error naming the file and
  // position of the first id >= vocab_size.
  void check_ids() const;

 private:
  void unmap();

  std::string path_;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  const unsigned char* tokens_ = nullptr;
  int64_t count_ = 0;
  int64_t vocab_size_ = 0;
  int bytes_per_token_ = 0;
};

struct DatasetSplit {
  std::vector<std::string> shards;  // file names inside the dataset folder
  int64_t tokens = 0;
  int64_t documents = 0;
};

struct Dataset {
  std::string dir;
  int64_t vocab_size = 0;
  int64_t eod_id = 0;
  std::string tokenizer;  // "byte" or a file name inside `dir`
  std::string tokenizer_id;  // tokenizer_identity of it ("" only for an in-memory dataset)
  std::map<std::string, DatasetSplit> splits;

  // Throws oryx::Error listing the splits there are if `name` is not one of them.
  const DatasetSplit& split(const std::string& name) const;
  // What tokenizer_load takes: "byte" or the model's path.
  std::string tokenizer_spec() const;
  std::string shard_path(const std::string& file) const;
  nlohmann::json meta_json() const;
};

// Reads and validates <dir>/meta.json, the tokenizer it names (present, and matching the
// recorded tokenizer_id) and every shard it lists (present, well-formed, same vocabulary,
// counts adding up to the split's tokens, every id inside the vocabulary), so that bad
// data fails here, naming the file, instead of at the training step that draws it.
Dataset dataset_open(const std::string& dir);

// Writes <ds.dir>/meta.json atomically (common/atomic_file.h).
void dataset_write_meta(const Dataset& ds);

}  // namespace oryx
