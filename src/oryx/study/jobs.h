// A small process pool for studies: runs commands (usually this `oryx` binary's own train
// and eval subcommands) as child processes, at most `parallel` at once, each pinned to a GPU
// through CUDA_VISIBLE_DEVICES, with stdout and stderr in files. Separate processes keep one
// model's failure (or out-of-memory) from taking the others down, and let four models train
// on four GPUs of one host at the same time.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace oryx {

struct Job {
  std::string name;                // shown in progress and errors, e.g. "train oryx-gdn"
  std::vector<std::string> argv;   // argv[0] is the program path
  std::string stdout_path, stderr_path;
  int after = -1;                  // index of a job that must succeed first (-1: none)
  // Called in the parent when the job exits with status 0; may throw oryx::Error to mark the
  // job failed (e.g. its output does not parse).
  std::function<void()> on_success;
};

struct JobResult {
  bool ok = false;
  std::string error;  // why not: exit status, signal, failed dependency, on_success's message
  double seconds = 0;
};

struct JobPoolOptions {
  int64_t parallel = 1;
  std::vector<std::string> devices;  // slot i gets CUDA_VISIBLE_DEVICES=devices[i % size]
  // OMP_NUM_THREADS of every job (0: inherited). Jobs that share the CPU must split its cores:
  // two torch processes with a thread per core each run many times slower than one.
  int64_t threads_per_job = 0;
  bool progress = true;
};

// Runs every job (in order, as dependencies and free slots allow) and returns one result per
// job. SIGINT or SIGTERM stops launching new jobs, is passed on to the running ones (a
// training job saves a checkpoint) and waits for them; the interrupted jobs and those never
// started are reported as not ok, with error "interrupted".
std::vector<JobResult> jobs_run(std::vector<Job>& jobs, const JobPoolOptions& options);

}  // namespace oryx
