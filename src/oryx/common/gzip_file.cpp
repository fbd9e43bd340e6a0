#include "oryx/common/gzip_file.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "oryx/common/error.h"

namespace oryx {

namespace {
gzFile as_gz(void* f) { return static_cast<gzFile>(f); }
}  // namespace

bool gzip_file_is_compressed(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  unsigned char magic[2] = {0, 0};
  const bool gz = std::fread(magic, 1, 2, f) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  std::fclose(f);
  return gz;
}

GzipFile::GzipFile(std::string path) : path_(std::move(path)) {
  errno = 0;
  file_ = gzopen(path_.c_str(), "rb");
  ORYX_CHECK(file_, "cannot open ", path_, ": ", errno ? std::strerror(errno) : "out of memory");
  gzbuffer(as_gz(file_), 1 << 17);
}

GzipFile::~GzipFile() { gzclose(as_gz(file_)); }

void GzipFile::check_error() {
  int err = Z_OK;
  const char* msg = gzerror(as_gz(file_), &err);
  if (err == Z_OK || err == Z_STREAM_END) return;
  if (err == Z_BUF_ERROR) ORYX_FAIL(path_, ": truncated gzip data (the file ends inside the stream)");
  if (err == Z_ERRNO) ORYX_FAIL("cannot read ", path_, ": ", std::strerror(errno));
  ORYX_FAIL(path_, ": not valid gzip data (", msg, ")");
}

size_t GzipFile::read(char* buf, size_t n) {
  const auto want = static_cast<unsigned>(std::min<size_t>(n, std::numeric_limits<int>::max()));
  const int got = gzread(as_gz(file_), buf, want);
  if (got <= 0) check_error();
  return got > 0 ? static_cast<size_t>(got) : 0;
}

bool GzipFile::getline(std::string& line) {
  line.clear();
  char buf[1 << 16];
  bool got = false;
  while (gzgets(as_gz(file_), buf, sizeof buf)) {
    got = true;
    line += buf;
    if (line.back() == '\n') break;
  }
  check_error();
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  return got;
}

int64_t GzipFile::disk_offset() const { return static_cast<int64_t>(gzoffset(as_gz(file_))); }

}  // namespace oryx
