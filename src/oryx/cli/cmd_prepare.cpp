// oryx prepare: a corpus (or the built-in synthetic one) -> a tokenized dataset folder that
// `oryx train` reads. The work is dataset_prepare (data/prepare.h); this file maps flags to
// PrepareOptions and prints the summary.
#include <ATen/Parallel.h>

#include <cstdio>
#include <iostream>

#include "oryx/cli/commands.h"
#include "oryx/cli/flag_limits.h"
#include "oryx/common/error.h"
#include "oryx/common/progress.h"
#include "oryx/data/prepare.h"

namespace oryx::cli {

namespace {

struct PrepareFlags {
  PrepareOptions prepare;
  SyntheticOptions synthetic;
  int64_t synthetic_documents = 0;
  int64_t threads = 0;
  bool json = false;
};

void print_summary(const PrepareSummary& s) {
  std::printf("dataset    %s (tokenizer %s, vocabulary %lld, end-of-document id %lld)\n",
              s.out_dir.c_str(), s.tokenizer.c_str(), static_cast<long long>(s.vocab_size),
              static_cast<long long>(s.eod_id));
  if (s.tokenizer_seconds > 0)
    std::printf("tokenizer  trained in %.1f s\n", s.tokenizer_seconds);
  std::printf("%-6s %10s %8s %6s %9s %9s %7s %8s %9s\n", "split", "documents", "skipped", "empty",
              "bytes", "tokens", "shards", "seconds", "tokens/s");
  int64_t tokens = 0;
  for (const auto& [name, p] : s.splits) {
    std::printf("%-6s %10lld %8lld %6lld %9s %9s %7lld %8.1f %9s\n", name.c_str(),
                static_cast<long long>(p.documents), static_cast<long long>(p.skipped),
                static_cast<long long>(p.empty), progress_format_count(p.bytes).c_str(),
                progress_format_count(p.tokens).c_str(), static_cast<long long>(p.shards),
                p.seconds,
                progress_format_count(static_cast<int64_t>(p.tokens_per_second())).c_str());
    tokens += p.tokens;
  }
  std::printf("total      %s tokens in %.1f s\n", progress_format_count(tokens).c_str(), s.seconds);
}

void run_prepare(PrepareFlags& f, const CLI::App& cmd) {
  PrepareOptions& o = f.prepare;
  if (f.synthetic_documents > 0) {
    f.synthetic.documents = f.synthetic_documents;
    o.synthetic = f.synthetic;
  }
  ORYX_CHECK(!(cmd.count("--val") && cmd.count("--val-fraction")),
             "--val and --val-fraction exclude each other: --val gives the validation split");
  ORYX_CHECK(o.train_tokenizer || !cmd.count("--tokenizer-sample-bytes"),
             "--tokenizer-sample-bytes needs --train-tokenizer");
  ORYX_CHECK(!(o.train_tokenizer && cmd.count("--tokenizer")),
             "--tokenizer and --train-tokenizer exclude each other");
  ORYX_CHECK(f.threads >= 0, "--threads must be >= 0, got ", f.threads);
  if (f.threads > 0) at::set_num_threads(static_cast<int>(f.threads));
  o.tokenizer_options.threads = f.threads;
  o.corpus.warn = [](const std::string& m) { std::cerr << "oryx: warning: " << m << "\n"; };
  const PrepareSummary s = dataset_prepare(o);
  if (f.json)
    std::cout << s.to_json().dump(2) << "\n";
  else
    print_summary(s);
}

}  // namespace

void register_prepare(CLI::App& app) {
  auto f = std::make_shared<PrepareFlags>();
  auto* cmd = app.add_subcommand("prepare", "Tokenize a corpus into a dataset of token shards");
  cmd->footer(
      "Inputs: .txt/.md files (documents separated by a line holding only 0x1E), .gz- or\n"
      ".zst-compressed text, .jsonl (one {\"text\": ...} per line), .jsonl.gz and .jsonl.zst, and\n"
      "folders of them. Binary formats (.parquet, .arrow, .npy, ...) are refused by name.\n"
      "Examples:\n"
      "  oryx prepare --synthetic 2000 --out data/synthetic\n"
      "  oryx prepare corpus/train.txt.zst --val corpus/val.txt.zst --train-tokenizer \\\n"
      "      --vocab-size 16384 --tokenizer-sample-bytes 50000000 --out data/corpus\n"
      "  oryx prepare docs/ notes.jsonl --tokenizer data/corpus/tokenizer.model --out data/mine");

  auto& o = f->prepare;
  cmd->add_option("inputs", o.inputs, "Corpus files and folders")->group("Input");
  cmd->add_option("--synthetic", f->synthetic_documents,
                  "Use N documents of the built-in synthetic corpus instead of inputs")
      ->check(in_range<int64_t>(0, 100'000'000))->group("Input");
  add_seed_option(cmd, "--synthetic-seed", f->synthetic.seed, "Seed of the synthetic corpus")->group("Input");
  cmd->add_option("--synthetic-doc-chars", f->synthetic.doc_chars,
                  "Approximate characters per synthetic document")
      ->capture_default_str()->check(in_range<int64_t>(1, 10'000'000))->group("Input");
  cmd->add_option("--synthetic-recall-fraction", f->synthetic.recall_fraction,
                  "Share of synthetic blocks that are associative recall (the rest is prose)")
      ->capture_default_str()->check(in_range(0.0, 1.0))->group("Input");
  cmd->add_option("--synthetic-pairs", f->synthetic.pairs, "Key-value pairs per recall block")
      ->capture_default_str()->check(in_range<int64_t>(1, 10'000))->group("Input");
  cmd->add_option("--jsonl-field", o.corpus.jsonl_field, "Text field of JSONL records")
      ->capture_default_str()->group("Input");

  cmd->add_option("--val", o.val_inputs,
                  "Validation corpus (files or folders); without it, --val-fraction applies")
      ->group("Split");
  cmd->add_option("--val-fraction", o.val_fraction,
                  "Share of documents for validation, chosen by a hash of their content "
                  "(0: no validation split)")
      ->capture_default_str()->check(in_range(0.0, 1.0))->group("Split");

  cmd->add_option("--tokenizer", o.tokenizer, "byte, or an existing SentencePiece .model")
      ->capture_default_str()->group("Tokenizer");
  cmd->add_flag("--train-tokenizer", o.train_tokenizer,
                "Train a SentencePiece tokenizer on the train documents first")
      ->group("Tokenizer");
  cmd->add_option("--vocab-size", o.tokenizer_options.vocab_size, "Pieces of the trained tokenizer")
      ->capture_default_str()->check(in_range<int64_t>(1, kMaxVocab))->group("Tokenizer");
  cmd->add_option("--model-type", o.tokenizer_options.model_type, "bpe or unigram")
      ->capture_default_str()->check(CLI::IsMember({"bpe", "unigram"}))->group("Tokenizer");
  cmd->add_option("--character-coverage", o.tokenizer_options.character_coverage,
                  "Share of characters given their own piece; the rarest use byte fallback")
      ->capture_default_str()->check(in_range(0.0, 1.0))->group("Tokenizer");
  cmd->add_option("--tokenizer-sample-bytes", o.tokenizer_sample_bytes,
                  "Train the tokenizer on about this many bytes of documents, sampled by "
                  "content hash (0: all)")
      ->capture_default_str()->check(in_range<int64_t>(0, kMaxCount))->group("Tokenizer");
  cmd->add_option("--max-sentence-length", o.tokenizer_options.max_sentence_length,
                  "Tokenizer training lines are cut to at most this many bytes")
      ->capture_default_str()->check(in_range<int64_t>(1, int64_t(1) << 30))->group("Tokenizer");
  cmd->add_option("--input-sentence-size", o.tokenizer_options.input_sentence_size,
                  "Tokenizer training keeps at most this many lines, sampled (0: all)")
      ->capture_default_str()->check(in_range<int64_t>(0, int64_t(1) << 31))->group("Tokenizer");

  cmd->add_option("--out", o.out_dir, "Output dataset folder")->required()->group("Output");
  cmd->add_flag("--overwrite", o.overwrite, "Replace a dataset already in --out")->group("Output");
  cmd->add_option("--shard-tokens", o.shard_tokens, "Tokens per shard file")
      ->capture_default_str()->check(in_range<int64_t>(1, int64_t(1) << 32))->group("Output");
  cmd->add_option("--threads", f->threads, "Threads for tokenizing and training (0: all cores)")
      ->capture_default_str()->check(in_range<int64_t>(0, kMaxThreads))->group("Output");
  cmd->add_flag("--json", f->json, "Print the summary as JSON")->group("Output");
  cmd->callback([f, cmd] { run_prepare(*f, *cmd); });
}

}  // namespace oryx::cli
