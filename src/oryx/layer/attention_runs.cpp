#include "oryx/layer/attention_runs.h"

#include <algorithm>
#include <numeric>

#include "oryx/common/error.h"

namespace oryx {

AttentionRuns AttentionRuns::from_mask(const torch::Tensor& mask_in, torch::Device device, bool allow_dense) {
  auto mask = mask_in.to(torch::kCPU).contiguous();
  ORYX_CHECK(mask.dim() == 2 && mask.scalar_type() == torch::kBool, "attention runs: mask must be [B,T] bool");
  int64_t B = mask.size(0), T = mask.size(1);
  const bool* p = mask.data_ptr<bool>();
  AttentionRuns r;
  r.batch = B;
  r.seq_len = T;
  std::vector<int64_t> seq_entries{0};
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T;) {
      if (!p[b * T + t]) { ++t; continue; }
      int64_t s = t;
      while (t < T && p[b * T + t]) ++t;
      bool has_entry = static_cast<int64_t>(r.entries.size()) > seq_entries.back();
      if (has_entry && s - r.entries.back()[2] < kMergeGapTokens)
        r.entries.back()[2] = t;  // a short gap after this sequence's last entry: extend it
      else
        r.entries.push_back({b, s, t});
    }
    seq_entries.push_back(static_cast<int64_t>(r.entries.size()));
  }
  int64_t R = static_cast<int64_t>(r.entries.size()), nq = 0, nk = 0;
  double entry_pairs = 0;  // query-key pairs of the entries (query t sees t + 1 keys)
  std::vector<int64_t> seqs_with_a;
  for (const auto& [b, s, e] : r.entries) {
    nq += e - s;
    nk += e;
    r.max_q = std::max(r.max_q, e - s);
    r.max_k = std::max(r.max_k, e);
    entry_pairs += 0.5 * static_cast<double>(e - s) * static_cast<double>(s + e + 1);
    if (seqs_with_a.empty() || seqs_with_a.back() != b) seqs_with_a.push_back(b);
  }
  double dense_pairs = 0.5 * static_cast<double>(seqs_with_a.size()) * static_cast<double>(T) * (T + 1);
  double entries_cost = kVarlenCostRatio * entry_pairs + kKeyRowCostPairs * static_cast<double>(nk);
  if (allow_dense && dense_pairs <= entries_cost) {
    AttentionRuns dense;
    dense.batch = B;
    dense.seq_len = T;
    // Most sequences attending: all of them do, which skips gathering the others' rows out
    // and back (forward and backward); the extra sequences' outputs are not selected.
    if (4 * static_cast<int64_t>(seqs_with_a.size()) >= 3 * B) {
      seqs_with_a.resize(static_cast<size_t>(B));
      std::iota(seqs_with_a.begin(), seqs_with_a.end(), 0);
    }
    dense.dense_seqs = torch::tensor(seqs_with_a, torch::kLong).to(device);
    return dense;
  }
  // One int64 buffer (q rows, k rows, then the int32 tables) goes to the device in one copy.
  int64_t n_tables = 2 * (R + 1) + (B + 1);
  auto packed = torch::empty({nq + nk + n_tables}, torch::kLong);
  int64_t* q = packed.data_ptr<int64_t>();
  int64_t* k = q + nq;
  int64_t* cu_q = k + nk;
  int64_t* cu_k = cu_q + R + 1;
  int64_t* seq = cu_k + R + 1;
  cu_q[0] = cu_k[0] = 0;
  for (int64_t i = 0; i < R; ++i) {
    auto [b, s, e] = r.entries[static_cast<size_t>(i)];
    for (int64_t t = s; t < e; ++t) *q++ = b * T + t;
    for (int64_t t = 0; t < e; ++t) *k++ = b * T + t;
    cu_q[i + 1] = cu_q[i] + (e - s);
    cu_k[i + 1] = cu_k[i] + e;
  }
  std::copy(seq_entries.begin(), seq_entries.end(), seq);
  auto on = packed.to(device);
  r.q_rows = on.narrow(0, 0, nq);
  r.k_rows = on.narrow(0, nq, nk);
  auto tables = on.narrow(0, nq + nk, n_tables).to(torch::kInt);
  r.cu_q = tables.narrow(0, 0, R + 1);
  r.cu_k = tables.narrow(0, R + 1, R + 1);
  r.seq_entries = tables.narrow(0, 2 * (R + 1), B + 1);
  return r;
}

}  // namespace oryx
