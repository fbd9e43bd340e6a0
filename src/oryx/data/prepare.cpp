#include "oryx/data/prepare.h"

#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>

#include "oryx/common/error.h"
#include "oryx/common/progress.h"
#include "oryx/data/shard.h"

namespace fs = std::filesystem;

namespace oryx {
namespace {

constexpr const char* kValSalt = "oryx-val";
constexpr const char* kSampleSalt = "oryx-tokenizer-sample";
// An encoding batch: enough documents to keep every thread busy, few enough that the text
// and its int64 ids stay well under a gigabyte even for the byte tokenizer.
constexpr int64_t kBatchBytes = 8 << 20;
constexpr size_t kBatchDocuments = 4096;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The documents of one pass: a corpus on disk, or the synthetic generator. Progress is in
// bytes read from disk for a corpus, in documents for the generator.
class DocumentSource {
 public:
  DocumentSource(const std::vector<std::string>& paths, const CorpusOptions& opts)
      : reader_(std::make_unique<CorpusReader>(paths, opts)) {}
  explicit DocumentSource(const SyntheticOptions& opts) : synthetic_(opts) {}

  bool next() {
    if (reader_) return reader_->next();
    if (index_ == synthetic_.documents) return false;
    text_ = synthetic_document(synthetic_, index_++);
    stats_.documents++;
    stats_.bytes += static_cast<int64_t>(text_.size());
    return true;
  }
  const std::string& text() const { return reader_ ? reader_->text() : text_; }
  CorpusStats stats() const { return reader_ ? reader_->stats() : stats_; }
  int64_t done() const { return reader_ ? reader_->stats().input_bytes : index_; }
  int64_t total() const { return reader_ ? reader_->total_input_bytes() : synthetic_.documents; }
  const char* unit() const { return reader_ ? "B" : "doc"; }

 private:
  std::unique_ptr<CorpusReader> reader_;
  SyntheticOptions synthetic_;
  int64_t index_ = 0;
  std::string text_;
  CorpusStats stats_;
};

// Notices raised during a pass are held until its progress bar is done (a bar redraws its
// line in place, and a message printed into it would be torn), and always delivered, even
// when the pass throws.
class HeldNotices {
 public:
  explicit HeldNotices(std::function<void(const std::string&)> sink) : sink_(std::move(sink)) {}
  ~HeldNotices() { flush(); }
  std::function<void(const std::string&)> collector() {
    if (!sink_) return {};
    return [this](const std::string& m) { held_.push_back(m); };
  }
  void flush() {
    for (const auto& m : held_) sink_(m);
    held_.clear();
  }

 private:
  std::function<void(const std::string&)> sink_;
  std::vector<std::string> held_;
};

std::unique_ptr<DocumentSource> make_source(const PrepareOptions& o,
                                            const std::vector<std::string>& paths,
                                            HeldNotices& notices) {
  if (paths.empty() && o.synthetic) return std::make_unique<DocumentSource>(*o.synthetic);
  CorpusOptions c = o.corpus;
  c.warn = notices.collector();
  return std::make_unique<DocumentSource>(paths, c);
}

std::unique_ptr<ProgressBar> make_bar(const PrepareOptions& o, const std::string& label,
                                      const DocumentSource& src) {
  if (!o.progress) return nullptr;
  return std::make_unique<ProgressBar>(label, src.total(), src.unit());
}

// Appends a split's token stream to numbered shards of at most shard_tokens tokens each.
class SplitWriter {
 public:
  SplitWriter(std::string dir, std::string split, int64_t vocab_size, int64_t shard_tokens)
      : dir_(std::move(dir)), split_(std::move(split)), vocab_size_(vocab_size),
        shard_tokens_(shard_tokens) {}

  void append(const std::vector<int64_t>& ids) {
    size_t pos = 0;
    while (pos < ids.size()) {
      if (!shard_) open_shard();
      const size_t room = static_cast<size_t>(shard_tokens_ - shard_->size());
      const size_t take = std::min(room, ids.size() - pos);
      shard_->append(ids.data() + pos, take);
      pos += take;
      if (shard_->size() == shard_tokens_) close_shard();
    }
    split_summary.tokens += static_cast<int64_t>(ids.size());
    split_summary.documents++;
  }

  DatasetSplit finish() {
    if (shard_) close_shard();
    split_summary.shards = static_cast<int64_t>(files_.size());
    return {files_, split_summary.tokens, split_summary.documents};
  }

  PrepareSplitSummary split_summary;

 private:
  void open_shard() {
    char name[64];
    std::snprintf(name, sizeof name, "%s-%05zu.bin", split_.c_str(), files_.size());
    files_.push_back(name);
    shard_ = std::make_unique<ShardWriter>((fs::path(dir_) / name).string(), vocab_size_);
  }
  void close_shard() {
    shard_->close();
    shard_.reset();
  }

  std::string dir_, split_;
  int64_t vocab_size_, shard_tokens_;
  std::vector<std::string> files_;
  std::unique_ptr<ShardWriter> shard_;
};

void check_options(const PrepareOptions& o) {
  ORYX_CHECK(!o.out_dir.empty(), "no output folder given (--out)");
  ORYX_CHECK(o.inputs.empty() != !o.synthetic,
             o.synthetic ? "give either input paths or a synthetic corpus, not both"
                         : "no input given: pass corpus files or folders, or a synthetic corpus");
  ORYX_CHECK(o.val_fraction >= 0 && o.val_fraction < 1,
             "validation fraction must be in [0, 1), got ", o.val_fraction);
  ORYX_CHECK(o.shard_tokens > 0, "shard size must be a positive number of tokens, got ",
             o.shard_tokens);
  ORYX_CHECK(o.tokenizer_sample_bytes >= 0, "tokenizer sample bytes must be >= 0, got ",
             o.tokenizer_sample_bytes);
}

// Makes out_dir ready for a new dataset: refuses to overwrite one unless asked, and then
// removes what a previous prepare wrote (meta.json first, so no half-replaced dataset ever
// looks complete). `keep` is a file that must survive (a tokenizer given from there).
void prepare_out_dir(const PrepareOptions& o, const std::string& keep) {
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  ORYX_CHECK(!ec && fs::is_directory(o.out_dir), "cannot create output folder ", o.out_dir, ": ",
             ec ? ec.message() : "a file of that name exists");
  const fs::path meta = fs::path(o.out_dir) / "meta.json";
  if (!fs::exists(fs::symlink_status(meta))) return;
  ORYX_CHECK(o.overwrite, o.out_dir,
             " already holds a dataset (meta.json); pass --overwrite or choose another --out");
  // --overwrite deletes files by name: only in a folder that `oryx prepare` wrote.
  std::ifstream meta_in(meta);
  const auto meta_json = nlohmann::json::parse(meta_in, nullptr, /*allow_exceptions=*/false);
  ORYX_CHECK(fs::is_regular_file(fs::symlink_status(meta)) && meta_json.is_object() &&
                 meta_json.value("format", nlohmann::json()) == "oryx-shards",
             "--overwrite: ", meta.string(), " is not the meta.json of an oryx dataset (no \"format\": \"oryx-shards\"), "
             "so nothing in ", o.out_dir, " is deleted; choose another --out");
  fs::remove(meta, ec);
  ORYX_CHECK(!ec, "cannot remove ", meta.string(), ": ", ec.message());
  static const std::regex ours(R"((train|val)-\d{5}\.bin|tokenizer\.(model|vocab))");
  for (const auto& e : fs::directory_iterator(o.out_dir)) {
    const std::string name = e.path().filename().string();
    if (!std::regex_match(name, ours)) continue;
    if (!keep.empty() && fs::equivalent(e.path(), keep, ec)) continue;
    fs::remove(e.path(), ec);
    ORYX_CHECK(!ec, "cannot remove ", e.path().string(), ": ", ec.message());
  }
}

// Pass 1: trains out_dir/tokenizer.model on the train documents (or a hash sample of them).
void train_tokenizer(const PrepareOptions& o) {
  const bool split_by_hash = o.val_inputs.empty() && o.val_fraction > 0;
  auto is_train = [&](const std::string& text) {
    return !split_by_hash || corpus_content_fraction(text, kValSalt) >= o.val_fraction;
  };
  double rate = 1;
  if (o.tokenizer_sample_bytes > 0) {
    HeldNotices notices(o.corpus.warn);
    auto src = make_source(o, o.inputs, notices);
    auto bar = make_bar(o, "tokenizer sample (counting)", *src);
    int64_t bytes = 0;
    while (src->next()) {
      if (is_train(src->text())) bytes += static_cast<int64_t>(src->text().size());
      if (bar) bar->update(src->done());
    }
    if (bar) bar->finish();
    rate = std::min(1.0, static_cast<double>(o.tokenizer_sample_bytes) /
                             static_cast<double>(std::max<int64_t>(bytes, 1)));
  }
  TokenizerTrainOptions t = o.tokenizer_options;
  t.output_prefix = (fs::path(o.out_dir) / "tokenizer").string();
  t.documents = [&](const std::function<void(std::string_view)>& emit) {
    HeldNotices notices(o.corpus.warn);
    auto src = make_source(o, o.inputs, notices);
    auto bar = make_bar(o, "tokenizer text", *src);
    int64_t bytes = 0;
    while (src->next()) {
      const std::string& text = src->text();
      if (is_train(text) && (rate >= 1 || corpus_content_fraction(text, kSampleSalt) < rate)) {
        emit(text);
        bytes += static_cast<int64_t>(text.size());
      }
      if (bar) bar->update(src->done());
    }
    if (bar) bar->finish();
    // SentencePiece trains silently (its log is off) and a large vocabulary takes minutes.
    if (o.progress)
      std::fprintf(stderr, "training a %s tokenizer of %lld pieces on %s bytes of text...\n",
                   t.model_type.c_str(), static_cast<long long>(t.vocab_size),
                   progress_format_count(bytes).c_str());
  };
  tokenizer_train(t);
}

// Pass 2: encodes one source into its split(s). `route` picks a document's split;
// `source_owner` is the split credited with the source's skipped and empty documents.
void tokenize_pass(const PrepareOptions& o, const std::string& label,
                   const std::vector<std::string>& paths, const Tokenizer& tok,
                   const std::function<SplitWriter&(const std::string&)>& route,
                   SplitWriter& source_owner) {
  HeldNotices notices(o.corpus.warn);
  auto src = make_source(o, paths, notices);
  auto bar = make_bar(o, label, *src);

  std::vector<std::string> docs;
  std::vector<std::vector<int64_t>> ids;
  int64_t batch_bytes = 0, tokens = 0;
  auto encode_batch = [&] {
    ids.assign(docs.size(), {});
    at::parallel_for(0, static_cast<int64_t>(docs.size()), 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        ids[i] = tok.encode(docs[i]);
        ids[i].push_back(tok.eod_id());
      }
    });
    for (size_t i = 0; i < docs.size(); ++i) {
      SplitWriter& w = route(docs[i]);
      w.split_summary.bytes += static_cast<int64_t>(docs[i].size());
      w.append(ids[i]);
      tokens += static_cast<int64_t>(ids[i].size());
    }
    docs.clear();
    batch_bytes = 0;
    if (bar) bar->update(src->done(), progress_format_count(tokens) + " tokens");
  };
  bool more = true;
  while (more) {
    more = src->next();
    if (more) {
      docs.push_back(src->text());
      batch_bytes += static_cast<int64_t>(docs.back().size());
    }
    if (!docs.empty() && (!more || batch_bytes >= kBatchBytes || docs.size() >= kBatchDocuments))
      encode_batch();
  }
  if (bar) bar->finish(progress_format_count(tokens) + " tokens");
  notices.flush();
  const CorpusStats stats = src->stats();
  source_owner.split_summary.skipped += stats.skipped;
  source_owner.split_summary.empty += stats.empty;
  if (stats.skipped > 0 && o.corpus.warn)
    o.corpus.warn(label + ": skipped " + std::to_string(stats.skipped) + " of " +
                  std::to_string(stats.skipped + stats.documents) + " documents (see above)");
}

}  // namespace

nlohmann::json PrepareSummary::to_json() const {
  nlohmann::json j = {{"out", out_dir},
                      {"tokenizer", tokenizer},
                      {"vocab_size", vocab_size},
                      {"eod_id", eod_id},
                      {"tokenizer_seconds", tokenizer_seconds},
                      {"seconds", seconds},
                      {"splits", nlohmann::json::object()}};
  for (const auto& [name, s] : splits)
    j["splits"][name] = {{"bytes", s.bytes},         {"documents", s.documents},
                         {"skipped", s.skipped},     {"empty", s.empty},
                         {"tokens", s.tokens},       {"shards", s.shards},
                         {"seconds", s.seconds},     {"tokens_per_second", s.tokens_per_second()}};
  return j;
}

PrepareSummary dataset_prepare(const PrepareOptions& o) {
  check_options(o);
  const auto t0 = std::chrono::steady_clock::now();
  // A bad tokenizer, a missing or binary input, or a JSONL input without the text field
  // fails before the output folder is touched and before any tokenizer training (opening a
  // reader resolves and checks its paths; its notices come later, from the real passes).
  if (!o.train_tokenizer) tokenizer_load(o.tokenizer);
  CorpusOptions quiet = o.corpus;
  quiet.warn = nullptr;
  if (!o.inputs.empty()) CorpusReader(o.inputs, quiet).check_jsonl_fields();
  if (!o.val_inputs.empty()) CorpusReader(o.val_inputs, quiet).check_jsonl_fields();
  prepare_out_dir(o, o.train_tokenizer || o.tokenizer == "byte" ? "" : o.tokenizer);

  PrepareSummary summary;
  summary.out_dir = o.out_dir;
  const std::string model_copy = (fs::path(o.out_dir) / "tokenizer.model").string();
  if (o.train_tokenizer) {
    const auto tt = std::chrono::steady_clock::now();
    train_tokenizer(o);
    summary.tokenizer_seconds = seconds_since(tt);
  } else if (o.tokenizer != "byte") {
    std::error_code ec;
    if (!fs::equivalent(o.tokenizer, model_copy, ec))
      fs::copy_file(o.tokenizer, model_copy, fs::copy_options::overwrite_existing, ec);
    ORYX_CHECK(!ec, "cannot copy ", o.tokenizer, " to ", model_copy, ": ", ec.message());
  }
  const bool byte = !o.train_tokenizer && o.tokenizer == "byte";
  const auto tok = tokenizer_load(byte ? "byte" : model_copy);

  Dataset ds;
  ds.dir = o.out_dir;
  ds.vocab_size = tok->vocab_size();
  ds.eod_id = tok->eod_id();
  ds.tokenizer = byte ? "byte" : "tokenizer.model";
  ds.tokenizer_id = tokenizer_identity(byte ? "byte" : model_copy);
  SplitWriter train(o.out_dir, "train", ds.vocab_size, o.shard_tokens);
  SplitWriter val(o.out_dir, "val", ds.vocab_size, o.shard_tokens);

  if (!o.val_inputs.empty()) {
    const auto tv = std::chrono::steady_clock::now();
    tokenize_pass(
        o, "val", o.val_inputs, *tok, [&](const std::string&) -> SplitWriter& { return val; },
        val);
    val.split_summary.seconds = seconds_since(tv);
  }
  const auto tt = std::chrono::steady_clock::now();
  const bool by_hash = o.val_inputs.empty() && o.val_fraction > 0;
  tokenize_pass(
      o, by_hash ? "train+val" : "train", o.inputs, *tok,
      [&](const std::string& text) -> SplitWriter& {
        return by_hash && corpus_content_fraction(text, kValSalt) < o.val_fraction ? val : train;
      },
      train);
  train.split_summary.seconds = seconds_since(tt);
  if (by_hash) val.split_summary.seconds = train.split_summary.seconds;

  ORYX_CHECK(train.split_summary.documents > 0,
             "the train split is empty: every document fell into the validation split");
  // Explicit val_inputs cannot come out empty (the reader refuses an empty corpus), but a
  // small corpus can leave the hash split with no val document; training without one is
  // legitimate, so that is a notice rather than an error after all the work is done.
  const bool has_val = val.split_summary.documents > 0;
  if (by_hash && !has_val && o.corpus.warn)
    o.corpus.warn(detail::concat("no document of ", train.split_summary.documents,
                                 " fell into the validation fraction ", o.val_fraction,
                                 ", so the dataset has no val split (raise the fraction or give "
                                 "--val INPUT)"));
  ds.splits["train"] = train.finish();
  summary.splits["train"] = train.split_summary;
  if (has_val) {
    ds.splits["val"] = val.finish();
    summary.splits["val"] = val.split_summary;
  }
  dataset_write_meta(ds);

  summary.tokenizer = ds.tokenizer;
  summary.vocab_size = ds.vocab_size;
  summary.eod_id = ds.eod_id;
  summary.seconds = seconds_since(t0);
  return summary;
}

}  // namespace oryx
