// Our reader and writer of the safetensors format (https://github.com/huggingface/safetensors),
// so that checkpoints open in the Python ecosystem and its files open here:
//
//   [8 bytes]  N, the header length, unsigned little-endian
//   [N bytes]  a UTF-8 JSON object: {"<name>": {"dtype": "F32", "shape": [2,3],
//              "data_offsets": [begin, end]}, ..., "__metadata__": {"<key>": "<value>"}}
//   [rest]     the data buffer; each tensor is row-major, little-endian, at [begin, end)
//              relative to the buffer's start; the tensors cover the buffer exactly.
//
// Dtypes: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL. The reader trusts nothing: every
// malformed file, truncated or hand-edited, is an oryx::Error naming the file and the problem.
#pragma once
#include <torch/types.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace oryx {

// Writes `tensors` (any device, any strides) to `path` atomically (atomic_write_file).
// Names must be unique and not "__metadata__". In the file the tensors are ordered by element
// size, largest first (then in the given order), so that every tensor is aligned to its
// element size, as the reference implementation does; the header is padded with spaces to a
// multiple of 8 bytes.
void safetensors_write(const std::string& path,
                       const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  std::string path;  // the file it was read from, named in errors
  // CPU tensors owning their memory, in file order (by data offset).
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  std::map<std::string, std::string> metadata;

  bool has(const std::string& name) const;
  // Throws oryx::Error naming the file and the tensor if there is no such tensor.
  const torch::Tensor& get(const std::string& name) const;
};

// Reads and validates a whole file.
SafetensorsFile safetensors_read(const std::string& path);

// The format's name for a torch dtype ("F32", "BF16", ...); throws for dtypes it lacks.
std::string safetensors_dtype_name(torch::ScalarType dtype);

}  // namespace oryx
