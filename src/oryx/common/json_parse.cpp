#include "oryx/common/json_parse.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

#include "oryx/common/error.h"

namespace oryx {

nlohmann::json json_parse_strict(std::istream& in, const std::string& where) {
  using json = nlohmann::json;
  std::vector<std::set<std::string>> open_objects;  // keys seen so far, per nesting level
  json::parser_callback_t check_keys = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      open_objects.pop_back();
    } else if (event == json::parse_event_t::key) {
      const auto& key = parsed.get_ref<const std::string&>();
      ORYX_CHECK(open_objects.back().insert(key).second, where, ": key '", key,
                 "' appears twice in one object");
    }
    return true;
  };
  try {
    return json::parse(in, check_keys);
  } catch (const json::exception& e) {
    ORYX_FAIL(where, ": malformed JSON: ", e.what());
  }
}

void check_readable_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  ORYX_CHECK(!std::filesystem::is_directory(path, ec), what, " '", path, "' is a folder, not a file");
}

nlohmann::json json_read_file(const std::string& path, const std::string& what) {
  check_readable_file(path, what);
  std::ifstream in(path);
  ORYX_CHECK(in.good(), "cannot open ", what, " '", path, "'");
  return json_parse_strict(in, path);
}

}  // namespace oryx
