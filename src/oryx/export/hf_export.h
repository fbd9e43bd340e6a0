// `oryx export --hf`: a checkpoint as a Hugging Face model folder that
// AutoConfig / AutoModelForCausalLM / AutoTokenizer.from_pretrained(OUT, trust_remote_code=True)
// load, with the oryx_lm package's code inside it:
//
//   config.json                 the checkpoint's config plus model_type "oryx", architectures,
//                               auto_map (to the two files below) and torch_dtype
//   configuration_oryx.py,      python/oryx_lm's modules (embedded in this binary at build
//   modeling_oryx.py,           time, so the folder is complete without the package)
//   ops.py, recurrence.py,      (ops.py loads liboryx_ops.so from $ORYX_OPS_LIBRARY if set)
//   schedule.py
//   model.safetensors           the checkpoint's weights, unchanged (names as in
//                               docs/checkpoint-format.md)
//   tokenizer.json,             byte tokenizer: a byte-level tokenizers model, id b = byte b,
//   tokenizer_config.json       id 256 = "<eod>" (end of document, the eos token)
//   or tokenizer.model + config SentencePiece: the model file, loaded by
//   + tokenization_oryx.py      OryxSentencePieceTokenizer (transformers' SentencePieceBackend,
//                               decoding through the sentencepiece library too; no BOS or EOS
//                               added), so ids and text equal oryx's; AutoTokenizer needs
//                               trust_remote_code=True for it
//
// The folder is written atomically; an existing non-empty OUT is refused unless `overwrite`.
#pragma once
#include <string>

namespace oryx {

void hf_export(const std::string& checkpoint_dir, const std::string& out_dir, bool overwrite);

// The tokenizers-library JSON of the byte tokenizer (exposed for tests).
std::string hf_byte_tokenizer_json();

}  // namespace oryx
