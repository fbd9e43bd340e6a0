#include "train/train_fixture.h"

#include <filesystem>

#include "oryx/data/prepare.h"
#include "oryx/common/remove_tree.h"
#include "support/models.h"

namespace oryx::testing {

const std::string& synthetic_dataset_dir() {
  static const std::string dir = [] {
    std::string d = make_temp_dir("synthetic-data") + "/data";
    PrepareOptions p;
    SyntheticOptions s;
    s.documents = 400;
    s.doc_chars = 1500;
    s.seed = 7;
    p.synthetic = s;
    p.val_fraction = 0.05;
    p.tokenizer = "byte";
    p.out_dir = d;
    p.progress = false;
    dataset_prepare(p);
    std::atexit([] { remove_tree(std::filesystem::path(dir).parent_path().string()); });
    return d;
  }();
  return dir;
}

TrainOptions tiny_train_options(const std::string& config_name, int64_t tokens) {
  TrainOptions o;
  o.config = shipped_config_path(config_name);
  o.data = synthetic_dataset_dir();
  o.out = make_temp_dir("run-" + config_name);
  o.tokens = tokens;
  o.batch_size = 8;
  o.seq_len = 64;
  o.adamw.lr = 3e-3;
  o.warmup_tokens = 64 * 8 * 5;
  o.log_every = 1;
  o.eval_windows = 4;
  o.device = "cpu";
  o.seed = 3;
  return o;
}

}  // namespace oryx::testing
