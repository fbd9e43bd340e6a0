#include "oryx/data/shard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

#include "oryx/common/atomic_file.h"
#include "oryx/common/error.h"
#include "oryx/common/json_fields.h"
#include "oryx/data/tokenizer.h"

namespace oryx {

// Tokens and header fields are stored little-endian and copied with memcpy.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "shard I/O assumes a little-endian host");

namespace {

constexpr char kMagic[8] = {'O', 'R', 'Y', 'X', 'T', 'O', 'K', '\0'};
constexpr size_t kWriteBuffer = 1 << 20;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t bytes_per_token;
  uint64_t count;
  uint64_t vocab_size;
};
static_assert(sizeof(Header) == kShardHeaderBytes, "shard header must be 32 bytes");

}  // namespace

int shard_bytes_per_token(int64_t vocab_size) { return vocab_size <= 65536 ? 2 : 4; }

// ---- ShardWriter ----

ShardWriter::ShardWriter(std::string path, int64_t vocab_size)
    : path_(std::move(path)),
      tmp_path_(path_ + ".tmp"),
      vocab_size_(vocab_size),
      bytes_per_token_(shard_bytes_per_token(vocab_size)) {
  ORYX_CHECK(vocab_size > 0 && vocab_size <= (int64_t{1} << 32), path_,
             ": vocabulary size must be in [1, 2^32], got ", vocab_size);
  file_ = std::fopen(tmp_path_.c_str(), "wb");
  ORYX_CHECK(file_, "cannot write ", tmp_path_, ": ", std::strerror(errno));
  // The real header goes in on close(); this reserves its bytes.
  const Header blank{};
  ORYX_CHECK(std::fwrite(&blank, sizeof blank, 1, file_) == 1, "cannot write ", tmp_path_, ": ",
             std::strerror(errno));
  buffer_.reserve(kWriteBuffer);
}

ShardWriter::~ShardWriter() {
  if (file_) {
    std::fclose(file_);
    std::remove(tmp_path_.c_str());
  }
}

void ShardWriter::append(const int64_t* ids, size_t n) {
  ORYX_CHECK(file_, path_, ": append after close");
  for (size_t i = 0; i < n; ++i) {
    const int64_t id = ids[i];
    ORYX_CHECK(id >= 0 && id < vocab_size_, path_, ": token id ", id,
               " is outside the vocabulary [0, ", vocab_size_, ")");
    if (bytes_per_token_ == 2) {
      const auto v = static_cast<uint16_t>(id);
      const auto* p = reinterpret_cast<const unsigned char*>(&v);
      buffer_.insert(buffer_.end(), p, p + 2);
    } else {
      const auto v = static_cast<uint32_t>(id);
      const auto* p = reinterpret_cast<const unsigned char*>(&v);
      buffer_.insert(buffer_.end(), p, p + 4);
    }
    if (buffer_.size() >= kWriteBuffer) flush();
  }
  count_ += static_cast<int64_t>(n);
}

void ShardWriter::flush() {
  if (buffer_.empty()) return;
  ORYX_CHECK(std::fwrite(buffer_.data(), 1, buffer_.size(), file_) == buffer_.size(),
             "cannot write ", tmp_path_, ": ", std::strerror(errno));
  buffer_.clear();
}

void ShardWriter::close() {
  ORYX_CHECK(file_, path_, ": closed twice");
  flush();
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kShardVersion;
  h.bytes_per_token = static_cast<uint32_t>(bytes_per_token_);
  h.count = static_cast<uint64_t>(count_);
  h.vocab_size = static_cast<uint64_t>(vocab_size_);
  const bool ok = std::fseek(file_, 0, SEEK_SET) == 0 && std::fwrite(&h, sizeof h, 1, file_) == 1;
  const int closed = std::fclose(file_);
  file_ = nullptr;
  if (!ok || closed != 0) {
    std::remove(tmp_path_.c_str());
    ORYX_FAIL("cannot write ", tmp_path_, ": ", std::strerror(errno));
  }
  std::error_code ec;
  std::filesystem::rename(tmp_path_, path_, ec);
  ORYX_CHECK(!ec, "cannot rename ", tmp_path_, " to ", path_, ": ", ec.message());
}

// ---- ShardReader ----

ShardReader::ShardReader(std::string path) : path_(std::move(path)) {
  const int fd = ::open(path_.c_str(), O_RDONLY);
  ORYX_CHECK(fd >= 0, "cannot open token shard ", path_, ": ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    ORYX_FAIL("cannot stat token shard ", path_, ": ", std::strerror(errno));
  }
  const auto file_bytes = static_cast<int64_t>(st.st_size);
  if (file_bytes < kShardHeaderBytes) {
    ::close(fd);
    ORYX_FAIL(path_, ": not an Oryx token shard (", file_bytes, " bytes, shorter than the ",
              kShardHeaderBytes, "-byte header)");
  }
  map_bytes_ = static_cast<size_t>(file_bytes);
  map_ = ::mmap(nullptr, map_bytes_, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);  // the mapping keeps the file open
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    ORYX_FAIL("cannot map token shard ", path_, ": ", std::strerror(errno));
  }
  // From here on a failed check must unmap: the destructor does not run for a throwing
  // constructor.
  try {
    Header h;
    std::memcpy(&h, map_, sizeof h);
    ORYX_CHECK(std::memcmp(h.magic, kMagic, sizeof kMagic) == 0, path_,
               ": not an Oryx token shard (bad magic)");
    ORYX_CHECK(h.version == kShardVersion, path_, ": shard version ", h.version,
               " is not supported (this build reads version ", kShardVersion, ")");
    ORYX_CHECK(h.vocab_size > 0 && h.vocab_size <= (uint64_t{1} << 32), path_,
               ": corrupt header (vocabulary size ", h.vocab_size, ")");
    const int expected_bpt = shard_bytes_per_token(static_cast<int64_t>(h.vocab_size));
    ORYX_CHECK(static_cast<int>(h.bytes_per_token) == expected_bpt, path_,
               ": corrupt header (", h.bytes_per_token, " bytes per token for vocabulary ",
               h.vocab_size, ", expected ", expected_bpt, ")");
    const int64_t data_bytes = file_bytes - kShardHeaderBytes;
    ORYX_CHECK(h.count <= static_cast<uint64_t>(data_bytes) &&
                   static_cast<int64_t>(h.count) * expected_bpt == data_bytes,
               path_, ": truncated or corrupt: the header says ", h.count, " tokens (",
               kShardHeaderBytes + static_cast<int64_t>(h.count) * expected_bpt,
               " bytes) but the file has ", file_bytes, " bytes");
    count_ = static_cast<int64_t>(h.count);
    vocab_size_ = static_cast<int64_t>(h.vocab_size);
    bytes_per_token_ = expected_bpt;
    tokens_ = static_cast<const unsigned char*>(map_) + kShardHeaderBytes;
  } catch (...) {
    unmap();
    throw;
  }
}

ShardReader::~ShardReader() { unmap(); }

ShardReader::ShardReader(ShardReader&& other) noexcept { *this = std::move(other); }

ShardReader& ShardReader::operator=(ShardReader&& other) noexcept {
  if (this != &other) {
    unmap();
    path_ = std::move(other.path_);
    map_ = std::exchange(other.map_, nullptr);
    map_bytes_ = std::exchange(other.map_bytes_, 0);
    tokens_ = std::exchange(other.tokens_, nullptr);
    count_ = std::exchange(other.count_, 0);
    vocab_size_ = other.vocab_size_;
    bytes_per_token_ = other.bytes_per_token_;
  }
  return *this;
}

void ShardReader::unmap() {
  if (map_) ::munmap(map_, map_bytes_);
  map_ = nullptr;
  tokens_ = nullptr;
}

void ShardReader::read(int64_t offset, int64_t n, int64_t* out) const {
  ORYX_CHECK(offset >= 0 && n >= 0 && offset + n <= count_, path_, ": read of [", offset, ", ",
             offset + n, ") is outside the shard's ", count_, " tokens");
  const unsigned char* p = tokens_ + offset * bytes_per_token_;
  if (bytes_per_token_ == 2) {
    for (int64_t i = 0; i < n; ++i) {
      uint16_t v;
      std::memcpy(&v, p + 2 * i, 2);
      out[i] = v;
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      uint32_t v;
      std::memcpy(&v, p + 4 * i, 4);
      out[i] = v;
    }
  }
}

int64_t ShardReader::at(int64_t i) const {
  int64_t v;
  read(i, 1, &v);
  return v;
}

namespace {

// The largest of n little-endian tokens of type T at p (n may be 0).
template <typename T>
uint64_t max_token(const unsigned char* p, int64_t n) {
  T m = 0;
  for (int64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, p + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
    m = std::max(m, v);
  }
  return m;
}

}  // namespace

void ShardReader::check_ids() const {
  if (vocab_size_ == (int64_t{1} << (8 * bytes_per_token_))) return;  // every stored value is an id
  // Chunks are reduced first and scanned id by id only where one is out of range.
  constexpr int64_t kChunk = 1 << 16;
  for (int64_t off = 0; off < count_; off += kChunk) {
    const int64_t n = std::min(kChunk, count_ - off);
    const unsigned char* p = tokens_ + off * bytes_per_token_;
    const uint64_t m = bytes_per_token_ == 2 ? max_token<uint16_t>(p, n) : max_token<uint32_t>(p, n);
    if (m < static_cast<uint64_t>(vocab_size_)) continue;
    for (int64_t i = off; i < off + n; ++i) {
      const int64_t id = at(i);
      ORYX_CHECK(id < vocab_size_, path_, ": token ", i, " has id ", id, ", outside the vocabulary of ",
                 vocab_size_, " (a corrupt or foreign shard; prepare the dataset again)");
    }
  }
}

// ---- Dataset ----

const DatasetSplit& Dataset::split(const std::string& name) const {
  auto it = splits.find(name);
  if (it != splits.end()) return it->second;
  std::string have;
  for (const auto& [k, v] : splits) have += (have.empty() ? "" : ", ") + k;
  ORYX_FAIL(dir, ": dataset has no split '", name, "' (it has: ", have, ")");
}

std::string Dataset::tokenizer_spec() const {
  return tokenizer == "byte" ? tokenizer : shard_path(tokenizer);
}

std::string Dataset::shard_path(const std::string& file) const {
  return (std::filesystem::path(dir) / file).string();
}

nlohmann::json Dataset::meta_json() const {
  nlohmann::json j = {{"format", "oryx-shards"}, {"version", 1},
                      {"vocab_size", vocab_size},  {"eod_id", eod_id},
                      {"tokenizer", tokenizer},    {"splits", nlohmann::json::object()}};
  if (!tokenizer_id.empty()) j["tokenizer_id"] = tokenizer_id;
  for (const auto& [name, s] : splits)
    j["splits"][name] = {{"shards", s.shards}, {"tokens", s.tokens}, {"documents", s.documents}};
  return j;
}

Dataset dataset_open(const std::string& dir) {
  const std::string meta_path = (std::filesystem::path(dir) / "meta.json").string();
  std::error_code ec;
  ORYX_CHECK(std::filesystem::is_directory(dir, ec), "dataset folder not found: ", dir,
             " (create one with `oryx prepare`)");
  std::ifstream in(meta_path);
  ORYX_CHECK(in, meta_path, ": not found; ", dir,
             " is not a prepared dataset (see `oryx prepare`)");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  ORYX_CHECK(!j.is_discarded(), meta_path, ": not valid JSON");

  JsonFields f(j, meta_path);
  Dataset ds;
  ds.dir = dir;
  ORYX_CHECK(f.str("format", "") == "oryx-shards", meta_path,
             ": key 'format' must be \"oryx-shards\"");
  ORYX_CHECK(f.integer("version", 0) == 1, meta_path, ": key 'version' must be 1");
  ds.vocab_size = f.positive_int("vocab_size");
  ds.eod_id = f.nonnegative_int("eod_id", -1);
  ORYX_CHECK(ds.eod_id < ds.vocab_size, meta_path, ": eod_id ", ds.eod_id,
             " is outside the vocabulary of ", ds.vocab_size);
  ds.tokenizer = f.str("tokenizer", "");
  ORYX_CHECK(!ds.tokenizer.empty(), meta_path, ": key 'tokenizer' is required");
  const std::string recorded_id = f.str("tokenizer_id", "");
  const auto& splits = f.raw("splits");
  f.reject_unknown();
  if (ds.tokenizer != "byte") {
    std::error_code fec;
    ORYX_CHECK(std::filesystem::is_regular_file(ds.tokenizer_spec(), fec), meta_path,
               ": the tokenizer it names, ", ds.tokenizer_spec(),
               ", is missing (copy it back or prepare the dataset again)");
  }
  ds.tokenizer_id = tokenizer_identity(ds.tokenizer_spec());
  // A dataset from an older build records no identity: the copy's own is the best there is.
  ORYX_CHECK(recorded_id.empty() || recorded_id == ds.tokenizer_id, meta_path, ": tokenizer ",
             ds.tokenizer_spec(), " is ", ds.tokenizer_id, ", not the ", recorded_id,
             " the dataset was tokenized with (was the file replaced?)");
  ORYX_CHECK(splits.is_object() && !splits.empty(), meta_path,
             ": key 'splits' must be a non-empty object");

  for (const auto& [name, sj] : splits.items()) {
    const std::string where = meta_path + " splits." + name;
    JsonFields sf(sj, where);
    DatasetSplit s;
    const auto& shards = sf.raw("shards");
    s.tokens = sf.nonnegative_int("tokens", -1);
    s.documents = sf.nonnegative_int("documents", -1);
    sf.reject_unknown();
    ORYX_CHECK(shards.is_array(), where, ": key 'shards' must be an array of file names");
    int64_t total = 0;
    for (const auto& sh : shards) {
      ORYX_CHECK(sh.is_string(), where, ": key 'shards' must hold file names, got ", sh.dump());
      s.shards.push_back(sh.get<std::string>());
      ShardReader r(ds.shard_path(s.shards.back()));
      ORYX_CHECK(r.vocab_size() == ds.vocab_size, r.path(), ": vocabulary ", r.vocab_size(),
                 " differs from meta.json's ", ds.vocab_size);
      r.check_ids();
      total += r.size();
    }
    ORYX_CHECK(total == s.tokens, where, ": shards hold ", total, " tokens but meta.json says ",
               s.tokens);
    ds.splits.emplace(name, std::move(s));
  }
  return ds;
}

void dataset_write_meta(const Dataset& ds) {
  atomic_write_text((std::filesystem::path(ds.dir) / "meta.json").string(),
                    ds.meta_json().dump(2) + "\n");
}

}  // namespace oryx
