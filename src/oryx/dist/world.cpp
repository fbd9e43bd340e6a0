#include "oryx/dist/world.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef ORYX_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <c10/core/impl/VirtualGuardImpl.h>

#include <algorithm>
#include <cstdlib>

#include "oryx/common/device.h"
#include "oryx/common/error.h"

namespace oryx {

namespace {

// The variable's value, or "" when unset.
std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

int env_int(const char* name, int lo, int hi) {
  const std::string s = env_or_empty(name);
  size_t used = 0;
  long v = 0;
  try {
    v = std::stol(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  ORYX_CHECK(used == s.size() && used > 0 && v >= lo && v <= hi, "environment variable ", name, "='", s,
             "' must be an integer in [", lo, ", ", hi, "]");
  return static_cast<int>(v);
}

}  // namespace

WorldEnv world_env_read() {
  WorldEnv e;
  if (env_or_empty("WORLD_SIZE").empty()) return e;
  e.size = env_int("WORLD_SIZE", 1, 1 << 16);
  if (e.size == 1) return e;
  for (const char* name : {"RANK", "MASTER_ADDR", "MASTER_PORT"})
    ORYX_CHECK(!env_or_empty(name).empty(), "WORLD_SIZE=", e.size, " is set but ", name,
               " is not: a distributed run needs RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT");
  e.rank = env_int("RANK", 0, e.size - 1);
  e.local_rank = env_or_empty("LOCAL_RANK").empty() ? e.rank : env_int("LOCAL_RANK", 0, e.size - 1);
  e.local_size = env_or_empty("LOCAL_WORLD_SIZE").empty() ? e.size : env_int("LOCAL_WORLD_SIZE", 1, e.size);
  e.master_addr = env_or_empty("MASTER_ADDR");
  e.master_port = env_int("MASTER_PORT", 1, 65535);
  return e;
}

torch::Device world_device(const std::string& spec, const WorldEnv& env) {
  torch::Device device = device_parse(spec);
  if (env.size <= 1 || !device.is_cuda()) return device;
  ORYX_CHECK(!device.has_index() || spec == "auto", "--device ", spec,
             ": a run of several processes takes --device cuda (process r uses cuda:LOCAL_RANK)");
  c10::impl::VirtualGuardImpl cuda(c10::DeviceType::CUDA);
  ORYX_CHECK(env.local_rank < cuda.deviceCount(), "LOCAL_RANK ", env.local_rank, " but this machine has ",
             cuda.deviceCount(), " CUDA device(s)");
  device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
  cuda.setDevice(device);
  return device;
}

std::string world_failure_line(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  std::string s = c10 ? c10->what_without_backtrace() : e.what();
  // c10d's messages run over several lines (and name C++ sources): the first says what.
  auto nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  return s;
}

struct World::Group {
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
};

World::World(const WorldEnv& env, torch::Device device, std::chrono::seconds rendezvous_timeout)
    : env_(env), device_(device) {
  if (env.size <= 1) return;
  const std::string where = "rank " + std::to_string(env.rank) + " of " + std::to_string(env.size) + " (store " +
                            env.master_addr + ":" + std::to_string(env.master_port) + ")";
  group_ = std::make_unique<Group>();
  const auto collective_timeout = std::max(rendezvous_timeout, kMinCollectiveTimeout);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(env.master_port);
    so.isServer = env.rank == 0;
    so.numWorkers = static_cast<size_t>(env.size);
    so.waitWorkers = true;
    so.timeout = rendezvous_timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("oryx/", store);
    auto pg = c10::make_intrusive<c10d::ProcessGroup>(prefixed, env.rank, env.size);
    if (device.is_cuda()) {
#ifdef ORYX_WITH_NCCL
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = collective_timeout;
      auto nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, env.rank, env.size, opts);
      pg->setDefaultBackend(c10d::ProcessGroup::BackendType::NCCL);
      pg->setBackend(c10::DeviceType::CUDA, c10d::ProcessGroup::BackendType::NCCL, nccl);
#else
      ORYX_FAIL("this oryx was built without CUDA: no NCCL process group");
#endif
    } else {
      auto gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(
          prefixed, env.rank, env.size, c10d::ProcessGroupGloo::Options::create_default(collective_timeout));
      pg->setDefaultBackend(c10d::ProcessGroup::BackendType::GLOO);
      pg->setBackend(c10::DeviceType::CPU, c10d::ProcessGroup::BackendType::GLOO, gloo);
    }
    group_->pg = pg;
    barrier();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    ORYX_FAIL(where, ": the rendezvous failed (timeout ", rendezvous_timeout.count(), " s): ", world_failure_line(e));
  }
}

World::~World() = default;
World::World(World&&) noexcept = default;
World& World::operator=(World&&) noexcept = default;

const c10::intrusive_ptr<c10d::ProcessGroup>& World::group() const {
  TORCH_INTERNAL_ASSERT(group_, "a world of one has no process group");
  return group_->pg;
}

void World::all_reduce_sum(torch::Tensor& t) const {
  if (!distributed()) return;
  std::vector<torch::Tensor> ts{t};
  group()->allreduce(ts)->wait();
}

void World::all_reduce_max(torch::Tensor& t) const {
  if (!distributed()) return;
  std::vector<torch::Tensor> ts{t};
  c10d::AllreduceOptions opts;
  opts.reduceOp = c10d::ReduceOp::MAX;
  group()->allreduce(ts, opts)->wait();
}

void World::broadcast(std::vector<torch::Tensor>& tensors) const {
  if (!distributed()) return;
  for (auto& t : tensors) {
    std::vector<torch::Tensor> one{t};
    group()->broadcast(one)->wait();
  }
}

void World::barrier() const {
  if (!distributed()) return;
  // A barrier as a one-element all-reduce on the world's device: NCCL's barrier() guesses the
  // device from the rank, which is wrong under LOCAL_RANK placement on several nodes.
  auto t = torch::zeros({1}, torch::TensorOptions().device(device_));
  all_reduce_sum(t);
  if (device_.is_cuda()) t.cpu();  // waits for the collective's stream
}

}  // namespace oryx
