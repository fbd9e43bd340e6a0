// Strict JSON reading for files a user writes (model configs, run files, study plans).
// nlohmann's parser silently keeps the last of two equal keys, so a config holding
// "d_model" twice would lose one without a word; here that is an error, as are malformed
// text and numbers out of range (1e400), each one line naming the file.
#pragma once
#include <nlohmann/json.hpp>

#include <istream>
#include <string>

namespace oryx {

// Parses `in`; `where` names the source in messages.
nlohmann::json json_parse_strict(std::istream& in, const std::string& where);

// Opens and parses the file at `path`; `what` names it in messages ("config file").
// A missing file or a folder is an error too.
nlohmann::json json_read_file(const std::string& path, const std::string& what);

// Refuses a path that is missing or is a folder, naming it as `what`.
void check_readable_file(const std::string& path, const std::string& what);

}  // namespace oryx
