// `--nproc-per-node N`: runs N copies of this program on this machine, one per device, as
// torchrun would: each gets RANK = LOCAL_RANK = r, WORLD_SIZE = LOCAL_WORLD_SIZE = N and the
// address of a free port on 127.0.0.1 for the rendezvous (MASTER_PORT when set, so a run can
// pick its port), and runs the same command line without the flag (dist/world.h reads them).
//
// Failures end the whole run, never a hang: when a worker exits with an error or is killed,
// the others get SIGTERM and, after `grace`, SIGKILL, and the launcher returns that worker's
// exit status (1 for a killed one) after one line naming it. SIGINT or SIGTERM to the
// launcher is passed to every worker (training saves one checkpoint and stops); a second one
// kills them. Workers run in process groups of their own, so Ctrl-C at a terminal reaches the
// launcher only, and they see one signal.
#pragma once
#include <chrono>
#include <string>
#include <vector>

namespace oryx {

// argv: the worker's command line, argv[0] included (the program is /proc/self/exe).
// Returns the exit status for the launcher.
int launch_local_workers(int nproc, const std::vector<std::string>& argv, std::chrono::seconds grace);

// The environment variables of an external launcher are set (WORLD_SIZE).
bool launched_externally();

}  // namespace oryx
