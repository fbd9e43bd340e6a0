#include "oryx/data/dataset_text.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "oryx/data/loader.h"
#include "oryx/data/tokenizer.h"

namespace oryx {

bool is_dataset_folder(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec) &&
         std::filesystem::exists(std::filesystem::path(path) / "meta.json", ec);
}

std::string dataset_text_split(const Dataset& ds) { return ds.splits.count("val") ? "val" : "train"; }

void dataset_for_each_document(const Dataset& ds, const std::string& split,
                               const std::function<bool(const std::string&)>& emit) {
  const auto tok = tokenizer_load(ds.tokenizer_spec());
  const TokenStream stream(ds, split);
  constexpr int64_t kChunk = 1 << 16;
  std::vector<int64_t> chunk(kChunk), doc;
  for (int64_t off = 0; off < stream.size(); off += kChunk) {
    const int64_t n = std::min(kChunk, stream.size() - off);
    stream.read(off, n, chunk.data());
    for (int64_t i = 0; i < n; ++i) {
      if (chunk[i] != ds.eod_id) {
        doc.push_back(chunk[i]);
        continue;
      }
      if (!doc.empty() && !emit(tok->decode(doc))) return;
      doc.clear();
    }
  }
  if (!doc.empty()) emit(tok->decode(doc));
}

}  // namespace oryx
