// What `oryx train --resume` may change from the run its checkpoint continues (trainer.json
// keeps that run's options):
//   refused    the data order or the meaning of a step: data, seed, batch_size, seq_len,
//              grad_accum and the MQAR stream (mqar_*); a resumed run with any of these
//              changed would not continue the run it claims to;
//   noticed    the recipe from here on: tokens (extending or cutting the budget stretches the
//              cosine schedule), lr, min_lr_ratio, warmup_tokens, AdamW's betas, eps,
//              weight_decay and decay_embeddings, grad_clip, the mixed-mode sampler
//              (schedule_chunk, p_all_a, p_all_l) and precision: accepted, one line each;
//   free       the rest (evaluation, logging, saving, max_steps, device, threads, plot).
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "oryx/train/options.h"

namespace oryx {

// Compares `now` with `saved` (the "options" object of trainer.json; `where` names that file).
// Throws oryx::Error naming the first refused setting with its old and new values; returns one
// notice line per noticed change.
std::vector<std::string> resume_option_changes(const nlohmann::json& saved, const TrainOptions& now,
                                               const std::string& where);

}  // namespace oryx
