// The synthetic corpus: deterministic from its seed, options honoured, and every recall
// query answerable from a "key: value" line earlier in the same document.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "oryx/data/synthetic.h"

namespace oryx::testing {
namespace {

std::vector<std::string> lines_of(const std::string& doc) {
  std::vector<std::string> lines;
  std::istringstream in(doc);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

TEST(DataSynthetic, DeterministicFromSeed) {
  SyntheticOptions a;
  a.documents = 5;
  std::vector<std::string> first, second;
  synthetic_documents(a, [&](const std::string& d) { first.push_back(d); });
  synthetic_documents(a, [&](const std::string& d) { second.push_back(d); });
  EXPECT_EQ(first, second);
  EXPECT_EQ(first[3], synthetic_document(a, 3));
  EXPECT_NE(first[0], first[1]);
  SyntheticOptions b = a;
  b.seed = 2;
  EXPECT_NE(synthetic_document(b, 0), first[0]);
}

TEST(DataSynthetic, QueriesAnsweredEarlier) {
  SyntheticOptions opts;
  opts.pairs = 6;
  opts.recall_fraction = 0.6;
  opts.doc_chars = 3000;
  int64_t queries = 0;
  for (int64_t d = 0; d < 20; ++d) {
    const std::string doc = synthetic_document(opts, d);
    EXPECT_GE(static_cast<int64_t>(doc.size()), opts.doc_chars);
    const auto lines = lines_of(doc);
    for (size_t i = 0; i < lines.size(); ++i) {
      const size_t q = lines[i].find("? ");
      if (q == std::string::npos) continue;
      const std::string fact = lines[i].substr(0, q) + ": " + lines[i].substr(q + 2);
      const auto earlier = std::find(lines.begin(), lines.begin() + i, fact);
      EXPECT_NE(earlier, lines.begin() + i) << "doc " << d << ": no fact for '" << lines[i] << "'";
      // The key is given exactly once: the answer is unambiguous.
      const std::string key = lines[i].substr(0, q) + ": ";
      EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                              [&](const std::string& l) { return l.rfind(key, 0) == 0; }),
                1);
      ++queries;
    }
  }
  EXPECT_GT(queries, 100);
}

TEST(DataSynthetic, MixOption) {
  SyntheticOptions prose;
  prose.recall_fraction = 0;
  const std::string p = synthetic_document(prose, 0);
  EXPECT_EQ(p.find("facts:"), std::string::npos);
  EXPECT_NE(p.find(". "), std::string::npos);

  SyntheticOptions recall;
  recall.recall_fraction = 1;
  recall.pairs = 3;
  recall.gap_sentences = 0;
  const auto lines = lines_of(synthetic_document(recall, 0));
  ASSERT_GE(lines.size(), 8u);
  EXPECT_EQ(lines[0], "facts:");
  EXPECT_EQ(lines[4], "recall:");
  EXPECT_NE(lines[5].find("? "), std::string::npos);
}

}  // namespace
}  // namespace oryx::testing
