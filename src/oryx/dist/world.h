// The processes of a data-parallel run and their process group, on torch.distributed's C++
// engine (c10d): a TCPStore for the rendezvous, ProcessGroupGloo on the CPU and
// ProcessGroupNCCL on CUDA. One process per device.
//
// A process learns its place from the environment torchrun and SLURM scripts set (and
// `oryx train --nproc-per-node N` sets for its workers, dist/launcher.h):
//   RANK, WORLD_SIZE           its index and the number of processes
//   LOCAL_RANK                 its index on this machine: the CUDA device it takes
//   LOCAL_WORLD_SIZE           the processes on this machine (they share its CPU threads)
//   MASTER_ADDR, MASTER_PORT   where rank 0 serves the store
// Without WORLD_SIZE (or with WORLD_SIZE=1) it is a world of one and nothing is created.
#pragma once
#include <torch/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace c10d {
class ProcessGroup;
}

namespace oryx {

struct WorldEnv {
  int rank = 0, size = 1, local_rank = 0, local_size = 1;
  std::string master_addr;
  int master_port = 0;
};

// Reads and checks the variables above; throws oryx::Error naming a bad one.
WorldEnv world_env_read();

// The device of this process for a --device spec: with several processes on CUDA, rank r
// takes cuda:LOCAL_RANK (and makes it the current device, where our kernels launch).
torch::Device world_device(const std::string& spec, const WorldEnv& env);

// How long processes wait for each other to meet (oryx train --dist-timeout's default), and
// the least a collective waits.
inline constexpr std::chrono::seconds kRendezvousTimeout{300};
inline constexpr std::chrono::seconds kMinCollectiveTimeout{1800};

class World {
 public:
  // A world of one: no process group.
  World() = default;
  // Joins the group `env` describes on `device`'s backend (Gloo for cpu, NCCL for cuda). The
  // rendezvous gives up after `rendezvous_timeout` with an oryx::Error, a collective after
  // kMinCollectiveTimeout or rendezvous_timeout if longer (ranks wait in a collective while
  // rank 0 validates or writes a checkpoint).
  World(const WorldEnv& env, torch::Device device, std::chrono::seconds rendezvous_timeout = kRendezvousTimeout);
  ~World();
  World(World&&) noexcept;
  World& operator=(World&&) noexcept;

  int rank() const { return env_.rank; }
  int size() const { return env_.size; }
  bool is_main() const { return env_.rank == 0; }
  bool distributed() const { return env_.size > 1; }
  const c10::intrusive_ptr<c10d::ProcessGroup>& group() const;

  // In-place sums and maxima over the ranks (no-ops in a world of one). Tensors live on the
  // world's device.
  void all_reduce_sum(torch::Tensor& t) const;
  void all_reduce_max(torch::Tensor& t) const;
  // Copies rank 0's values into every rank's tensors.
  void broadcast(std::vector<torch::Tensor>& tensors) const;
  void barrier() const;

 private:
  WorldEnv env_;
  torch::Device device_ = torch::kCPU;
  struct Group;
  std::unique_ptr<Group> group_;
};

// The message of a c10d failure on one line, for oryx::Error ("rank 1: ...").
std::string world_failure_line(const std::exception& e);

}  // namespace oryx
