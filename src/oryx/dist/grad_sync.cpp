#include "oryx/dist/grad_sync.h"

#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/logger.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>

#include <unordered_map>

namespace oryx {

namespace {
// DistributedDataParallel's defaults: a small first bucket starts communication early.
constexpr int64_t kBucketBytes = 25 * 1024 * 1024;
constexpr int64_t kFirstBucketBytes = 1024 * 1024;

// Drops torch warnings while alive. The Reducer warns (once per process) when a step happens to
// use every parameter of a model that may leave some unused; for a mixed-mode model that is
// the usual case, not a mistake.
class QuietWarnings : public c10::WarningHandler {
 public:
  void process(const c10::Warning&) override {}
};
}  // namespace

GradSync::GradSync(const World& world, const std::vector<std::pair<std::string, torch::Tensor>>& params,
                   bool find_unused)
    : find_unused_(find_unused) {
  if (!world.distributed()) return;
  // Reverse order: the last layers' gradients are ready first.
  std::vector<torch::Tensor> tensors;
  std::unordered_map<size_t, std::string> names;
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    names[tensors.size()] = it->first;
    tensors.push_back(it->second);
  }
  auto [buckets, limits] = c10d::compute_bucket_assignment_by_size(
      tensors, {static_cast<size_t>(kFirstBucketBytes), static_cast<size_t>(kBucketBytes)});
  std::vector<int64_t> caps(limits.begin(), limits.end());
  reducer_ = std::make_shared<c10d::Reducer>(tensors, buckets, world.group(), std::vector<bool>(tensors.size(), false),
                                             kBucketBytes, find_unused, /*gradient_as_bucket_view=*/false, names,
                                             kFirstBucketBytes, /*skip_all_reduce_unused_params=*/false,
                                             /*use_python_reducer=*/false, caps);
  logger_ = std::make_shared<c10d::Logger>(reducer_);
  reducer_->set_logger(logger_);
  const bool cuda = !tensors.empty() && tensors.front().is_cuda();
  const std::vector<int> device_ids =
      cuda ? std::vector<int>{static_cast<int>(tensors.front().get_device())} : std::vector<int>{};
  logger_->set_construction_data_and_log("oryx", device_ids, cuda ? device_ids.front() : -1,
                                         /*broadcast_buffers=*/false, /*has_sync_bn=*/false, /*static_graph=*/false);
}

GradSync::~GradSync() = default;

void GradSync::prepare(const torch::Tensor& loss) {
  if (!reducer_) return;
  QuietWarnings quiet;
  c10::WarningUtils::WarningHandlerGuard guard(&quiet);
  // After the first synced backward the buckets are rebuilt once in the order gradients were
  // ready (all ranks agree on it), as DDP does before each forward; until then the Reducer
  // records that order, so the call must come every step.
  reducer_->rebuild_buckets();
  reducer_->prepare_for_forward();
  reducer_->prepare_for_backward(find_unused_ ? std::vector<torch::Tensor>{loss} : std::vector<torch::Tensor>{});
}

}  // namespace oryx
