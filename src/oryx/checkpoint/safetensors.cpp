#include "oryx/checkpoint/safetensors.h"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <thread>

#include "oryx/common/atomic_file.h"
#include "oryx/common/error.h"

// Tensor bytes are copied to and from memory as they are, and the format is little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O needs a little-endian host");

namespace oryx {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

struct DtypeInfo {
  const char* name;
  torch::ScalarType type;
  uint64_t size;
};

constexpr DtypeInfo kDtypes[] = {
    {"F64", torch::kFloat64, 8}, {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8}, {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},   {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

// Dtypes the format defines but Oryx does not read, named so that the error says
// "unsupported" rather than "unknown".
constexpr const char* kUnsupportedDtypes[] = {"U16",     "U32",     "U64",     "F8_E4M3", "F8_E5M2",
                                              "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4",      "C64"};

// The reference implementation refuses larger headers; anything above is not a real file.
constexpr uint64_t kMaxHeaderBytes = 100000000;

std::string supported_dtypes() {
  std::string s;
  for (const auto& d : kDtypes) s += (s.empty() ? "" : ", ") + std::string(d.name);
  return s;
}

const DtypeInfo* dtype_of(torch::ScalarType type) {
  for (const auto& d : kDtypes)
    if (d.type == type) return &d;
  return nullptr;
}

uint64_t u64_from_le(const unsigned char* b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

void u64_to_le(uint64_t v, char* b) {
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// A JSON value for an error message, cut short so that a mangled header cannot flood it.
std::string brief(const Json& v) {
  std::string s = v.dump();
  return s.size() <= 60 ? s : s.substr(0, 57) + "...";
}

// One header entry after validation.
struct Entry {
  std::string name;
  const DtypeInfo* dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

class HeaderReader {
 public:
  explicit HeaderReader(const std::string& path) : path_(path) {}

  Json parse(const std::string& header) const {
    // nlohmann keeps the last of duplicate keys silently; a duplicated tensor name would then
    // surface later as a confusing hole in the buffer.
    std::set<std::string> names;
    std::string duplicate;
    Json::parser_callback_t note_keys = [&](int depth, Json::parse_event_t event, Json& parsed) {
      if (depth == 1 && event == Json::parse_event_t::key && duplicate.empty() &&
          !names.insert(parsed.get<std::string>()).second)
        duplicate = parsed.get<std::string>();
      return true;
    };
    Json j;
    try {
      j = Json::parse(header, note_keys);
    } catch (const Json::parse_error& e) {
      fail("header is not valid UTF-8 JSON (", e.what(), ")");
    }
    check(j.is_object(), "header must be a JSON object, got ", j.type_name());
    check(duplicate.empty(), "tensor '", duplicate, "' appears twice in the header");
    return j;
  }

  std::map<std::string, std::string> metadata(const Json& m) const {
    std::map<std::string, std::string> out;
    if (m.is_null()) return out;
    check(m.is_object(), "'__metadata__' must be an object of strings, got ", brief(m));
    for (auto it = m.begin(); it != m.end(); ++it) {
      check(it.value().is_string(), "'__metadata__' value for key '", it.key(),
            "' must be a string, got ", brief(it.value()));
      out[it.key()] = it.value().get<std::string>();
    }
    return out;
  }

  Entry entry(const std::string& name, const Json& v) const {
    check(v.is_object(), "entry for tensor '", name, "' must be a JSON object, got ", brief(v));
    for (const char* key : {"dtype", "shape", "data_offsets"})
      check(v.contains(key), "tensor '", name, "' has no '", key, "'");
    Entry e{name, dtype(name, v["dtype"]), {}, 0, 0};

    const Json& shape = v["shape"];
    check(shape.is_array(), "tensor '", name, "': 'shape' must be an array of integers, got ",
          brief(shape));
    for (const Json& d : shape) {
      check(d.is_number_integer(), "tensor '", name, "': 'shape' must be an array of integers, got ",
            brief(shape));
      check(d.is_number_unsigned(), "tensor '", name, "' has a negative dimension in shape ",
            brief(shape));
      check(d.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
            "tensor '", name, "' has an impossible shape ", brief(shape));
      e.shape.push_back(d.get<int64_t>());
    }

    const Json& off = v["data_offsets"];
    check(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() &&
              off[1].is_number_unsigned(),
          "tensor '", name, "': 'data_offsets' must be two non-negative integers [begin,end], got ",
          brief(off));
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    check(e.begin <= e.end, "tensor '", name, "' has data_offsets ", brief(off),
          " that are not ascending");

    const uint64_t bytes = byte_size(e, shape);
    check(e.end - e.begin == bytes, "tensor '", name, "' has shape ", brief(shape), " and dtype ",
          e.dtype->name, " (", bytes, " bytes) but data_offsets ", brief(off), " span ",
          e.end - e.begin, " bytes");
    return e;
  }

  // The tensors must lie inside the buffer and tile it exactly, as the format requires.
  void check_layout(std::vector<Entry>& entries, uint64_t data_size) const {
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    for (const Entry& e : entries)
      check(e.end <= data_size, "file is truncated: tensor '", e.name, "' has data_offsets [",
            e.begin, ",", e.end, "] but the data buffer holds only ", data_size,
            " bytes (offsets outside the data buffer)");
    uint64_t pos = 0;
    const Entry* reaching = nullptr;  // the tensor that ends at `pos`
    for (const Entry& e : entries) {
      if (e.begin < pos)
        fail("tensors '", reaching->name, "' [", reaching->begin, ",", reaching->end, ") and '",
             e.name, "' [", e.begin, ",", e.end, ") overlap");
      check(e.begin == pos, "data bytes [", pos, ",", e.begin,
            ") are not covered by any tensor (the format requires a dense buffer)");
      if (e.end > pos) reaching = &e;
      pos = std::max(pos, e.end);
    }
    check(pos == data_size, "data bytes [", pos, ",", data_size,
          ") are not covered by any tensor (the format requires a dense buffer)");
  }

  template <typename... Args>
  void check(bool ok, const Args&... args) const {
    if (!ok) fail(args...);
  }
  template <typename... Args>
  [[noreturn]] void fail(const Args&... args) const {
    ORYX_FAIL("safetensors file ", path_, ": ", args...);
  }

 private:
  const DtypeInfo* dtype(const std::string& name, const Json& v) const {
    check(v.is_string(), "tensor '", name, "': 'dtype' must be a string, got ", brief(v));
    const std::string s = v.get<std::string>();
    for (const auto& d : kDtypes)
      if (s == d.name) return &d;
    for (const char* u : kUnsupportedDtypes)
      check(s != u, "tensor '", name, "' has dtype ", s, ", which Oryx does not read (it reads ",
            supported_dtypes(), ")");
    fail("tensor '", name, "' has unknown dtype '", s, "' (Oryx reads ", supported_dtypes(), ")");
  }

  // numel * element size, refusing products that overflow (they cannot fit any file).
  uint64_t byte_size(const Entry& e, const Json& shape) const {
    uint64_t n = e.dtype->size;
    for (int64_t d : e.shape)
      if (d == 0) return 0;
    for (int64_t d : e.shape) {
      const auto ud = static_cast<uint64_t>(d);
      check(n <= std::numeric_limits<uint64_t>::max() / ud, "tensor '", e.name,
            "' has an impossible shape ", brief(shape));
      n *= ud;
    }
    return n;
  }

  const std::string& path_;
};

}  // namespace

std::string safetensors_dtype_name(torch::ScalarType dtype) {
  const DtypeInfo* d = dtype_of(dtype);
  ORYX_CHECK(d, "dtype ", c10::toString(dtype), " cannot be stored in safetensors files (Oryx writes ",
             supported_dtypes(), ")");
  return d->name;
}

void safetensors_write(const std::string& path,
                       const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  struct Item {
    const std::string* name;
    const torch::Tensor* tensor;
    const DtypeInfo* dtype;
  };
  std::vector<Item> items;
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    ORYX_CHECK(t.defined(), "safetensors_write ", path, ": tensor '", name, "' is undefined");
    ORYX_CHECK(name != "__metadata__", "safetensors_write ", path,
               ": '__metadata__' is reserved and cannot name a tensor");
    ORYX_CHECK(seen.insert(name).second, "safetensors_write ", path, ": tensor name '", name,
               "' appears twice");
    const DtypeInfo* d = dtype_of(t.scalar_type());
    ORYX_CHECK(d, "safetensors_write ", path, ": tensor '", name, "' has dtype ",
               c10::toString(t.scalar_type()), ", which safetensors files cannot hold (supported: ",
               supported_dtypes(), ")");
    items.push_back({&name, &t, d});
  }
  std::stable_sort(items.begin(), items.end(),
                   [](const Item& a, const Item& b) { return a.dtype->size > b.dtype->size; });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const Item& it : items) {
    const uint64_t bytes = static_cast<uint64_t>(it.tensor->numel()) * it.dtype->size;
    header[*it.name] = {{"dtype", it.dtype->name},
                        {"shape", it.tensor->sizes().vec()},
                        {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::type_error& e) {
    ORYX_FAIL("safetensors_write ", path, ": tensor names and metadata must be valid UTF-8 (",
              e.what(), ")");
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  atomic_write_file(path, [&](std::ostream& out) {
    char len[8];
    u64_to_le(text.size(), len);
    out.write(len, 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    // One tensor at a time on the CPU, so that saving a GPU model needs no second copy of it.
    for (const Item& it : items) {
      torch::Tensor cpu = it.tensor->detach().to(torch::kCPU).resolve_neg().contiguous();
      out.write(static_cast<const char*>(cpu.data_ptr()),
                static_cast<std::streamsize>(cpu.numel() * it.dtype->size));
    }
  });
}

namespace {

// The tensor data is read in pieces of at most this size by a few threads at once: a
// checkpoint comes from the page cache more often than from the disk, and one thread's
// copies out of it are the slowest part of a cold start's load.
constexpr uint64_t kReadPieceBytes = uint64_t{32} << 20;

struct ReadPiece {
  uint64_t offset;  // in the file
  char* dst;
  uint64_t bytes;
  size_t entry;     // the tensor it belongs to, for the error
};

struct ReadFailure {
  size_t entry;
  std::string error;  // the system's, or "" for an early end of file
};

// Reads every piece (pread on one descriptor, so the threads share no file position); the
// failure of the lowest-numbered piece that failed, if any.
std::optional<ReadFailure> read_pieces(const std::string& path, const std::vector<ReadPiece>& pieces) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ReadFailure{pieces.empty() ? 0 : pieces.front().entry, std::strerror(errno)};
  const size_t threads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8);
  std::atomic<size_t> next{0};
  std::atomic<size_t> first_failed{pieces.size()};
  std::vector<std::string> errors(pieces.size());
  auto work = [&] {
    for (size_t k = next++; k < pieces.size(); k = next++) {
      const ReadPiece& piece = pieces[k];
      uint64_t done = 0;
      while (done < piece.bytes) {
        const ssize_t n = ::pread(fd, piece.dst + done, piece.bytes - done, static_cast<off_t>(piece.offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          if (n < 0) errors[k] = std::strerror(errno);
          size_t seen = first_failed.load();
          while (k < seen && !first_failed.compare_exchange_weak(seen, k)) {}
          break;
        }
        done += static_cast<uint64_t>(n);
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < std::min(threads, pieces.size()); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  ::close(fd);
  const size_t failed = first_failed.load();
  if (failed == pieces.size()) return std::nullopt;
  return ReadFailure{pieces[failed].entry, errors[failed]};
}

}  // namespace

SafetensorsFile safetensors_read(const std::string& path) {
  HeaderReader reader(path);
  std::error_code ec;
  const auto status = fs::status(path, ec);
  ORYX_CHECK(fs::exists(status), "safetensors file ", path, " does not exist");
  ORYX_CHECK(fs::is_regular_file(status), "safetensors file ", path, " is not a regular file");
  const uint64_t file_size = fs::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  ORYX_CHECK(in && !ec, "cannot read safetensors file ", path, ": ",
             ec ? ec.message() : std::strerror(errno));

  reader.check(file_size >= 8, "file is truncated or not a safetensors file: ", file_size,
               " bytes, fewer than the 8-byte header length");
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  reader.check(in.gcount() == 8, "file is truncated while reading the header length");
  const uint64_t header_len = u64_from_le(len_bytes);
  reader.check(header_len <= kMaxHeaderBytes, "header length ", header_len,
               " bytes is absurd (the limit is ", kMaxHeaderBytes, "); not a safetensors file?");
  reader.check(header_len <= file_size - 8, "header length ", header_len, " exceeds the ",
               file_size - 8, " bytes after it (file truncated, or not a safetensors file)");
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  reader.check(static_cast<uint64_t>(in.gcount()) == header_len,
               "file is truncated while reading the header");

  const Json j = reader.parse(header);
  SafetensorsFile file;
  file.path = path;
  std::vector<Entry> entries;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") file.metadata = reader.metadata(it.value());
    else entries.push_back(reader.entry(it.key(), it.value()));
  }
  reader.check_layout(entries, file_size - 8 - header_len);

  std::vector<torch::Tensor> data;
  std::vector<ReadPiece> pieces;
  const uint64_t data_start = 8 + header_len;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    data.push_back(torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype->type)));
    auto* dst = static_cast<char*>(data.back().data_ptr());
    for (uint64_t at = e.begin; at < e.end; at += kReadPieceBytes)
      pieces.push_back({data_start + at, dst + (at - e.begin), std::min(kReadPieceBytes, e.end - at), i});
  }
  if (const auto failed = read_pieces(path, pieces))
    reader.fail("file is truncated while reading tensor '", entries[failed->entry].name, "'",
                failed->error.empty() ? "" : " (" + failed->error + ")");

  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (e.dtype->type == torch::kBool) {
      // Any byte but 0 and 1 in a torch bool tensor is undefined behaviour.
      const auto* p = static_cast<const unsigned char*>(data[i].data_ptr());
      reader.check(std::all_of(p, p + (e.end - e.begin), [](unsigned char b) { return b <= 1; }),
                   "tensor '", e.name, "' has dtype BOOL but holds a byte other than 0 and 1");
    }
    file.tensors.emplace_back(e.name, std::move(data[i]));
  }
  return file;
}

bool SafetensorsFile::has(const std::string& name) const {
  return std::any_of(tensors.begin(), tensors.end(), [&](const auto& p) { return p.first == name; });
}

const torch::Tensor& SafetensorsFile::get(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  ORYX_FAIL("safetensors file ", path, ": no tensor '", name, "'");
}

}  // namespace oryx
