// Time since this process started, as the kernel records it (/proc/self/stat), so that it
// counts what happens before main() too: loading libtorch and CUDA's libraries. For the cold
// start figures of `oryx generate --json`.
#pragma once

namespace oryx {

// Milliseconds since the process started (10 ms resolution: the kernel's clock ticks); -1
// where /proc is not there to ask.
double ms_since_process_start();

}  // namespace oryx
