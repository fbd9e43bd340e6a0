#include "oryx/data/synthetic.h"

#include <set>
#include <vector>

#include "oryx/common/error.h"

namespace oryx {
namespace {

// splitmix64: tiny, and its output is fixed by its definition (std:: distributions are not,
// across standard libraries).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) by the multiply-high method.
  size_t below(size_t n) {
    return static_cast<size_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  template <typename T>
  const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }

 private:
  uint64_t s_;
};

struct Noun {
  const char* one;
  const char* many;
};
struct Verb {
  const char* one;  // with a singular subject
  const char* many;
};

const std::vector<Noun> kNouns = {
    {"cat", "cats"},       {"dog", "dogs"},         {"bird", "birds"},   {"child", "children"},
    {"teacher", "teachers"}, {"farmer", "farmers"}, {"river", "rivers"}, {"house", "houses"},
    {"tree", "trees"},     {"boat", "boats"},       {"city", "cities"},  {"letter", "letters"},
    {"song", "songs"},     {"garden", "gardens"},   {"window", "windows"}, {"horse", "horses"}};
const std::vector<Verb> kVerbs = {
    {"sees", "see"},     {"follows", "follow"}, {"likes", "like"},   {"finds", "find"},
    {"watches", "watch"}, {"carries", "carry"}, {"paints", "paint"}, {"remembers", "remember"},
    {"visits", "visit"},  {"builds", "build"}};
const std::vector<std::string> kAdjectives = {"small", "old",   "red",   "quiet", "bright",
                                              "green", "tired", "happy", "cold",  "tall"};
const std::vector<std::string> kPlaces = {"near the old house", "by the river",
                                          "in the garden",      "after the rain",
                                          "every morning",      "at night"};
const std::vector<std::string> kOnsets = {"b", "d", "f", "g", "k", "l", "m", "n",
                                          "p", "r", "s", "t", "v", "z", "sh", "ch"};
const std::vector<std::string> kVowels = {"a", "e", "i", "o", "u"};

std::string noun_phrase(Rng& rng, bool plural) {
  std::string s = plural ? (rng.below(2) ? "the " : "some ") : (rng.below(2) ? "the " : "a ");
  if (rng.below(2)) s += rng.pick(kAdjectives) + " ";
  const Noun& n = rng.pick(kNouns);
  return s + (plural ? n.many : n.one);
}

std::string sentence(Rng& rng) {
  const bool plural = rng.below(2);
  std::string s = noun_phrase(rng, plural) + " ";
  const Verb& v = rng.pick(kVerbs);
  s += plural ? v.many : v.one;
  s += " " + noun_phrase(rng, rng.below(2));
  if (rng.below(3) == 0) s += " " + rng.pick(kPlaces);
  s[0] = static_cast<char>(s[0] - 'a' + 'A');
  return s + ".";
}

std::string paragraph(Rng& rng, size_t sentences) {
  std::string s;
  for (size_t i = 0; i < sentences; ++i) s += (i ? " " : "") + sentence(rng);
  return s;
}

std::string word(Rng& rng, size_t min_syllables, size_t max_syllables) {
  const size_t n = min_syllables + rng.below(max_syllables - min_syllables + 1);
  std::string w;
  for (size_t i = 0; i < n; ++i) w += rng.pick(kOnsets) + rng.pick(kVowels);
  if (rng.below(2)) w += rng.pick(kOnsets).substr(0, 1);
  return w;
}

// A recall block; `keys` holds the document's keys so far, to keep them unique.
std::string recall_block(Rng& rng, const SyntheticOptions& opts, std::set<std::string>& keys) {
  std::vector<std::pair<std::string, std::string>> pairs;
  while (static_cast<int64_t>(pairs.size()) < opts.pairs) {
    std::string key = word(rng, 2, 3);
    if (!keys.insert(key).second) continue;
    std::string value =
        rng.below(2) ? std::to_string(rng.below(1000)) : word(rng, 1, 2);
    pairs.emplace_back(std::move(key), std::move(value));
  }
  std::string s = "facts:\n";
  for (const auto& [k, v] : pairs) s += k + ": " + v + "\n";
  for (int64_t i = 0; i < opts.gap_sentences; ++i) s += sentence(rng) + "\n";
  s += "recall:";
  // Fisher-Yates with our generator, so the query order is the same everywhere.
  for (size_t i = pairs.size(); i > 1; --i) std::swap(pairs[i - 1], pairs[rng.below(i)]);
  for (const auto& [k, v] : pairs) s += "\n" + k + "? " + v;
  return s;
}

void check_options(const SyntheticOptions& opts) {
  ORYX_CHECK(opts.documents > 0, "synthetic corpus: documents must be positive, got ",
             opts.documents);
  ORYX_CHECK(opts.doc_chars > 0, "synthetic corpus: document length must be positive, got ",
             opts.doc_chars);
  ORYX_CHECK(opts.recall_fraction >= 0 && opts.recall_fraction <= 1,
             "synthetic corpus: recall fraction must be in [0, 1], got ", opts.recall_fraction);
  ORYX_CHECK(opts.pairs > 0 && opts.pairs <= 1000,
             "synthetic corpus: pairs per recall block must be in [1, 1000], got ", opts.pairs);
  ORYX_CHECK(opts.gap_sentences >= 0, "synthetic corpus: gap sentences must be >= 0, got ",
             opts.gap_sentences);
}

}  // namespace

std::string synthetic_document(const SyntheticOptions& opts, int64_t index) {
  check_options(opts);
  // Decorrelate neighbouring documents: run the (seed, index) pair through the mixer once.
  Rng rng(Rng(opts.seed ^ (static_cast<uint64_t>(index) * 0xd1b54a32d192ed03ULL)).next());
  std::set<std::string> keys;
  std::string doc;
  while (static_cast<int64_t>(doc.size()) < opts.doc_chars) {
    if (!doc.empty()) doc += "\n\n";
    doc += rng.unit() < opts.recall_fraction ? recall_block(rng, opts, keys)
                                             : paragraph(rng, 3 + rng.below(4));
  }
  return doc;
}

void synthetic_documents(const SyntheticOptions& opts,
                         const std::function<void(const std::string&)>& emit) {
  check_options(opts);
  for (int64_t i = 0; i < opts.documents; ++i) emit(synthetic_document(opts, i));
}

}  // namespace oryx
