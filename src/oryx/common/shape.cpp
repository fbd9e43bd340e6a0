#include "oryx/common/shape.h"

#include "oryx/common/error.h"

namespace oryx {

std::string shape_str(c10::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(sizes[i]);
  }
  return s + "]";
}

void check_shape(const torch::Tensor& t, const char* what, std::initializer_list<int64_t> sizes) {
  ORYX_CHECK(t.defined(), what, " is missing");
  bool ok = t.dim() == static_cast<int64_t>(sizes.size());
  size_t i = 0;
  for (int64_t s : sizes) {
    if (!ok) break;
    ok = s < 0 || t.size(static_cast<int64_t>(i)) == s;
    ++i;
  }
  if (ok) return;
  std::string want = "[";
  i = 0;
  for (int64_t s : sizes) {
    if (i++) want += ",";
    want += s < 0 ? std::string("*") : std::to_string(s);
  }
  want += "]";
  ORYX_FAIL(what, " must have shape ", want, ", got ", shape_str(t.sizes()));
}

void check_same_device(const torch::Tensor& a, const torch::Tensor& b, const char* what) {
  ORYX_CHECK(a.device() == b.device(), what, ": tensors on different devices (", a.device(), " vs ",
             b.device(), ")");
}

}  // namespace oryx
