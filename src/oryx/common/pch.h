// Precompiled header for every translation unit of oryx_core and its users: libtorch's
// headers dominate compile time, and compiling them once saves most of a CI build.
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
