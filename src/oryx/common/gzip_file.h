// Reading a file that may be gzip-compressed: zlib's gzopen recognises the gzip header and
// passes any other file through as it is, so one reader serves "x.jsonl" and "x.jsonl.gz".
// Shared by the corpus reader (data/corpus.h) and the eval task files (eval/mc.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace oryx {

// True when the file starts with the gzip magic bytes (1f 8b); false if it cannot be read.
bool gzip_file_is_compressed(const std::string& path);

class GzipFile {
 public:
  // Throws oryx::Error naming `path` if it cannot be opened.
  explicit GzipFile(std::string path);
  ~GzipFile();
  GzipFile(const GzipFile&) = delete;
  GzipFile& operator=(const GzipFile&) = delete;

  // Up to n decompressed bytes into buf; 0 at the end. Throws oryx::Error naming the file on
  // a read error, corrupt data or a stream cut short.
  size_t read(char* buf, size_t n);
  // The next line without its "\n" or "\r\n"; false at the end of the file.
  bool getline(std::string& line);
  // Bytes consumed from the file on disk so far (compressed bytes for gzip).
  int64_t disk_offset() const;
  const std::string& path() const { return path_; }

 private:
  void check_error();

  std::string path_;
  void* file_ = nullptr;  // gzFile, kept out of this header
};

}  // namespace oryx
