// Bounds of the numeric flags (docs/limits.md). Every count or size a flag sets has an upper
// bound, so that a typo (--n 1000000000, --threads 100000) is refused while parsing, in one
// line naming the flag, instead of exhausting memory, hanging or overflowing a product of
// flags later. `oryx train` checks its keys the same way in train/options.cpp, so that run
// files are bounded too.
#pragma once
#include <CLI/CLI.hpp>

#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>

#include "oryx/config/model_config.h"

namespace oryx::cli {

constexpr int64_t kMaxSeed = std::numeric_limits<int64_t>::max();  // every seed: [0, 2^63 - 1]
constexpr int64_t kMaxBatch = 65536;                 // sequences per forward pass
constexpr int64_t kMaxSeqLen = kMaxSequenceLength;   // tokens per sequence (config/model_config.h)
constexpr int64_t kMaxExamples = 100'000;            // --n: examples per group of a synthetic task
constexpr int64_t kMaxEvalTokens = int64_t(1) << 28; // examples x sequence length of one group
constexpr int64_t kMaxVocab = kMaxVocabSize;         // ids (config/model_config.h)
constexpr int64_t kMaxThreads = 1024;
constexpr int64_t kMaxCount = int64_t(1) << 40;      // documents, bytes, windows, lines kept

// Accepts values of type T in [lo, hi]; the message names the range and the value given.
template <typename T>
CLI::Validator in_range(T lo, T hi) {
  std::ostringstream range;
  range << "[" << lo << ", " << hi << "]";
  const std::string what = std::is_integral<T>::value ? "an integer" : "a number";
  return CLI::Validator(
      [lo, hi, range = range.str(), what](std::string& input) {
        T value{};
        if (!CLI::detail::lexical_cast(input, value) || value < lo || value > hi)
          return "must be " + what + " in " + range + ", got " + input;
        return std::string();
      },
      "in " + range.str());
}

// Every seed flag (--seed, --init-seed, --synthetic-seed) is the same: an integer in
// [0, 2^63 - 1], the range a run file's JSON integer holds.
inline CLI::Option* add_seed_option(CLI::App* cmd, const std::string& name, uint64_t& seed,
                                    const std::string& help) {
  return cmd->add_option(name, seed, help)
      ->capture_default_str()
      ->check(in_range<uint64_t>(0, kMaxSeed));
}

}  // namespace oryx::cli
