#include "oryx/eval/ppl.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "oryx/common/error.h"
#include "oryx/data/corpus.h"
#include "oryx/eval/score.h"

namespace oryx {

namespace {

bool is_shard(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8] = {};
  return in.read(magic, sizeof magic) && std::memcmp(magic, "ORYXTOK\0", 8) == 0;
}

}  // namespace

PplData::PplData(const std::string& path, const std::string& split, const Tokenizer* tok, int64_t max_tokens)
    : path_(path), split_(split) {
  namespace fs = std::filesystem;
  std::error_code ec;
  ORYX_CHECK(fs::exists(path, ec), "ppl: data path not found: ", path);
  if (fs::is_directory(path, ec) && fs::exists(fs::path(path) / "meta.json", ec)) {
    kind_ = Kind::Dataset;
    dataset_ = dataset_open(path);
    dataset_.split(split);  // fails early, listing the splits there are
    vocab_size_ = dataset_.vocab_size;
  } else if (fs::is_regular_file(path, ec) && is_shard(path)) {
    kind_ = Kind::Shard;
    ShardReader reader(path);
    reader.check_ids();
    dataset_.dir = fs::path(path).parent_path().string();
    dataset_.vocab_size = reader.vocab_size();
    DatasetSplit s;
    s.shards = {fs::path(path).filename().string()};
    s.tokens = reader.size();
    dataset_.splits["shard"] = s;
    split_ = "shard";
    vocab_size_ = reader.vocab_size();
  } else {
    kind_ = Kind::Text;
    ORYX_CHECK(tok, "ppl: text data ", path, " needs a tokenizer");
    CorpusReader reader({path});
    while ((max_tokens <= 0 || static_cast<int64_t>(tokens_.size()) < max_tokens) && reader.next()) {
      auto ids = tok->encode(reader.text());
      tokens_.insert(tokens_.end(), ids.begin(), ids.end());
      tokens_.push_back(tok->eod_id());
      ++documents_;
    }
    if (max_tokens > 0 && static_cast<int64_t>(tokens_.size()) > max_tokens)
      tokens_.resize(static_cast<size_t>(max_tokens));
    ORYX_CHECK(tokens_.size() >= 2, "ppl: ", path, " encodes to fewer than 2 tokens");
    vocab_size_ = tok->vocab_size();
  }
}

std::string PplData::describe() const {
  switch (kind_) {
    case Kind::Dataset: return "dataset " + path_ + " split '" + split_ + "'";
    case Kind::Shard: return "shard " + path_;
    case Kind::Text: return "text " + path_ + " (" + std::to_string(documents_) + " documents)";
  }
  return path_;
}

std::string PplData::dataset_tokenizer() const {
  return kind_ == Kind::Dataset ? dataset_.tokenizer_spec() : "";
}

int64_t PplData::windows(int64_t T, int64_t max_windows) const {
  if (kind_ != Kind::Text) return EvalWindows(dataset_, split_, 1, T, max_windows).windows();
  const auto n = static_cast<int64_t>(tokens_.size());
  const int64_t w = (n - 1 + T - 1) / T;
  return max_windows > 0 ? std::min(w, max_windows) : w;
}

BatchSource PplData::batches(int64_t T, int64_t batch, int64_t max_windows) const {
  ORYX_CHECK(T >= 1 && batch >= 1, "ppl: sequence length and batch must be positive, got ", T, " and ", batch);
  if (kind_ != Kind::Text) {
    auto w = std::make_shared<EvalWindows>(dataset_, split_, batch, T, max_windows);
    return [w] { return w->next(); };
  }
  const int64_t total = windows(T, max_windows);
  auto next = std::make_shared<int64_t>(0);
  return [this, T, batch, total, next]() -> std::optional<Batch> {
    if (*next >= total) return std::nullopt;
    const auto n = static_cast<int64_t>(tokens_.size());
    // Whole windows go together; the short last window is a batch of its own, so that no
    // padding is fed and its modes are those of its own length.
    auto inputs_of = [&](int64_t w) { return std::min(T, n - 1 - w * T); };
    int64_t rows = 0;
    const int64_t len = inputs_of(*next);
    while (rows < batch && *next + rows < total && inputs_of(*next + rows) == len) ++rows;
    auto block = torch::empty({rows, len + 1}, torch::kLong);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t start = (*next + r) * T;
      std::memcpy(block[r].data_ptr<int64_t>(), tokens_.data() + start,
                  static_cast<size_t>(len + 1) * sizeof(int64_t));
    }
    *next += rows;
    return Batch{block.narrow(1, 0, len).contiguous(), block.narrow(1, 1, len).contiguous()};
  };
}

nlohmann::json PplResult::to_json() const {
  nlohmann::json j = {{"task", "ppl"}, {"schedule", schedule}, {"data", data}, {"seq_len", seq_len},
                      {"windows", windows}};
  j.update(loss.to_json());
  return j;
}

PplResult ppl_eval(OryxModel& model, const PplData& data, const PplOptions& o, const Schedule& schedule,
                   const std::vector<int32_t>* token_bytes) {
  ORYX_CHECK(data.vocab_size() <= model->config().vocab_size, "ppl: the data's vocabulary of ",
             data.vocab_size(), " ids is larger than the model's vocab_size of ", model->config().vocab_size);
  PplResult r;
  r.schedule = eval_schedule_name(schedule);
  r.data = data.describe();
  r.seq_len = o.seq_len > 0 ? o.seq_len : model->config().max_seq_len;
  ORYX_CHECK(r.seq_len <= model->config().max_seq_len, "ppl: sequence length ", r.seq_len,
             " exceeds the model's max_seq_len of ", model->config().max_seq_len);
  r.windows = data.windows(r.seq_len, o.max_windows);
  EvalLossOptions lo;
  lo.token_bytes = token_bytes;
  lo.total_rows = r.windows;
  if (o.progress) lo.progress_label = "ppl " + r.schedule;
  std::ofstream dump;
  int64_t window = 0;
  if (!o.token_losses.empty()) {
    dump.open(o.token_losses, std::ios::app);
    ORYX_CHECK(dump.good(), "--token-losses: cannot write '", o.token_losses, "'");
    lo.on_batch = [&](const Batch& b, const torch::Tensor& modes, const torch::Tensor& nll) {
      auto as_list = [](const torch::Tensor& t) {
        auto c = t.contiguous();
        return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
      };
      for (int64_t i = 0; i < b.inputs.size(0); ++i) {
        auto n = nll[i].contiguous();
        nlohmann::json rec = {{"schedule", r.schedule},
                              {"window", window++},
                              {"inputs", as_list(b.inputs[i])},
                              {"targets", as_list(b.targets[i])},
                              {"modes", as_list(modes[i].to(torch::kLong))},
                              {"nll", std::vector<double>(n.data_ptr<double>(), n.data_ptr<double>() + n.numel())}};
        dump << rec.dump() << "\n";
      }
      ORYX_CHECK(dump.good(), "--token-losses: writing '", o.token_losses, "' failed");
    };
  }
  r.loss = eval_loss(model, data.batches(r.seq_len, o.batch, o.max_windows), schedule_mode_fn(schedule), lo);
  return r;
}

}  // namespace oryx
