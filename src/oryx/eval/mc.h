// Zero-shot scoring of task files in the OLMo in-loop format (the oe-eval request dumps under
// /work/shared/eval/olmo): one JSON object per line, plain or gzip-compressed,
//
//   {"request_type": "loglikelihood", "doc_id": 0, "idx": 1, "label": 3,
//    "request": {"context": "Question: ...\nAnswer:", "continuation": " television"}, ...}
//
// Required: doc_id (integer >= 0), idx (the choice, integer >= 0), request.context and
// request.continuation (strings), and label: the gold idx (integer), or for the bits-per-byte
// variants a list or string of reference answers (their only request is the gold one). If
// present, request_type must be "loglikelihood" or "generate_until_and_loglikelihood". Other
// keys (doc, native_id, task_name, ...) are ignored. A bad line is an oryx::Error "FILE:LINE:
// what". Requests with doc_id >= the config's uncond_docid_offset (default 1000000) are
// oe-eval's unconditional requests; they are counted and skipped, as OLMo's in-loop eval does.
//
// A task is a file, or a folder holding requests.jsonl[.gz] and optionally config.json
// (task_name; task_config.primary_metric: acc_raw, acc_per_char or logits_per_byte;
// task_config.metric_kwargs.uncond_docid_offset).
//
// Scoring a request (as OLMo's in-loop eval does): context and continuation are encoded
// separately; the model is fed [eod] + context + continuation[0..n-1), cut from the left to
// the context limit, and the request's log-likelihood is the sum of log p over the n
// continuation tokens. Per document:
//   acc       the choice of highest log-likelihood is the label
//   acc_norm  the same with each log-likelihood divided by the continuation's length
//             (UTF-8 bytes by default; characters, as OLMES's acc_per_char, or tokens)
//   bpb       bits per byte of the gold continuation: -ll / ln 2 / its UTF-8 bytes
// and each metric is the mean over documents. Ties go to the lowest idx. A bpb task (config
// metric logits_per_byte, or labels that are lists or strings) reports bpb only.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "oryx/data/tokenizer.h"
#include "oryx/eval/score.h"

namespace oryx {

struct McRequest {
  int64_t idx = 0;
  std::string context, continuation;
  int64_t line = 0;  // 1-based line in the file, for messages
};

struct McDoc {
  int64_t doc_id = 0;
  int64_t label = 0;               // gold idx
  std::vector<McRequest> choices;  // by idx: choices[i].idx == i (bpb tasks: the gold only)
};

struct McTask {
  std::string name;            // config task_name, else the folder or file name
  std::string file;            // the requests file read
  std::string primary_metric;  // the config's (acc_raw, acc_per_char, logits_per_byte) or ""
  bool bpb = false;            // a bits-per-byte task: each doc keeps its gold request only
  std::vector<McDoc> docs;     // in order of first appearance
  int64_t requests = 0;        // conditional requests kept
  int64_t skipped_unconditional = 0;
};

// What a task is scored as: "auto" (bpb when the config's metric is logits_per_byte or the
// labels are lists or strings, else multiple choice), "acc" or "bpb".
McTask mc_load(const std::string& path, const std::string& metric = "auto", int64_t max_docs = 0);

// The tasks under `path`: itself if it is a file or a folder holding requests.jsonl[.gz],
// else every such folder below it, sorted. Throws if there are none.
std::vector<std::string> mc_find_tasks(const std::string& path);

struct McOptions {
  std::string norm = "bytes";   // acc_norm's length: bytes | chars | tokens
  bool prepend_eod = true;      // feed the end-of-document id first, as a document starts in training
  int64_t max_context = 0;      // tokens fed per request; 0 = the model's max_seq_len
  ScoreOptions score;
  // Non-empty: every request's score appended to this file, one JSON line each
  // ({"task", "schedule", "doc_id", "idx", "log_likelihood", "tokens"}: tokens scored).
  std::string request_scores;
};

struct McResult {
  std::string name, file, schedule, norm;
  bool bpb_task = false;
  int64_t docs = 0, requests = 0, skipped_unconditional = 0, truncated = 0;
  double acc = 0, acc_norm = 0, bpb = 0;
  std::string primary_metric;   // the config's, or acc / bpb
  double primary = 0;
  int64_t fed = 0, fed_a = 0;
  double attention_fraction() const { return fed ? static_cast<double>(fed_a) / fed : 0.0; }
  nlohmann::json to_json() const;  // acc and acc_norm are null for bpb tasks
};

McResult mc_eval(OryxModel& model, const Tokenizer& tok, const McTask& task, const McOptions& o,
                 const Schedule& schedule);

}  // namespace oryx
