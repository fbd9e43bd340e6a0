// The generator of the synthetic eval tasks (MQAR, NIAH, KV). Its stream is fixed by its
// definition (splitmix64), unlike std:: distributions, whose output differs between standard
// libraries; a task seed therefore names the same examples on every machine. Each example
// draws from its own stream, derived from (seed, task group, example index), so example i
// does not depend on how many examples came before it or on the batch size.
#pragma once
#include <cstdint>
#include <initializer_list>

namespace oryx {

class EvalRng {
 public:
  explicit EvalRng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n), n > 0, by the multiply-high method.
  uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
  // Uniform in (0, 1): never 0, so log(unit()) is finite.
  double unit() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }

 private:
  uint64_t s_;
};

// One stream per (seed, parts...): each part is folded in through the splitmix finaliser.
inline uint64_t eval_stream_seed(uint64_t seed, std::initializer_list<uint64_t> parts) {
  uint64_t s = EvalRng(seed).next();
  for (uint64_t p : parts) s = EvalRng(s ^ (p * 0xd1b54a32d192ed03ULL)).next();
  return s;
}

}  // namespace oryx
