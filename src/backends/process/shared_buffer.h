// SharedBuffer: a memfd that the server and one worker process both map, so tensor
// bytes cross the process boundary without going through the socket.
//
// Each direction has its own buffer with one writer: the server writes requests, the
// worker writes replies. The writer grows the file (ftruncate) when a message does not
// fit; the reader learns the extent it must read from the message header and maps at
// least that much, refusing an extent beyond the file's end (reading past it would be
// a SIGBUS). Both sides hold the same fd, so growing never needs a new fd.
//
// Thread-safety: one thread at a time. A mapping stays valid while anything holds the
// pointer from keepalive(), even after the buffer has been remapped larger.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "backends/process/unique_fd.h"
#include "core/status.h"

namespace quiver::backends::process {

class SharedBuffer {
 public:
  SharedBuffer() = default;
  explicit SharedBuffer(UniqueFd fd) : fd_(std::move(fd)) {}

  // A new, empty, close-on-exec memfd; `name` shows in /proc/PID/fd for debugging.
  static Result<SharedBuffer> create(const std::string& name);

  int fd() const { return fd_.get(); }
  // The start of the current mapping (nullptr before the first ensure_*).
  std::byte* data() const;
  size_t mapped_size() const;
  // Keeps the current mapping alive (for tensors that view it).
  std::shared_ptr<const void> keepalive() const;

  // Writer: the file is at least `bytes` long and mapped. Grows geometrically so that
  // a series of slightly larger messages does not remap every time. ResourceExhausted
  // when the memory cannot be had (e.g. the worker's memory limit).
  Status ensure_writable(size_t bytes);
  // Reader: maps the first `bytes` the peer wrote. DataLoss when the file is shorter.
  Status ensure_readable(size_t bytes);

 private:
  struct Mapping;
  Status map_whole_file();

  UniqueFd fd_;
  std::shared_ptr<Mapping> mapping_;
};

}  // namespace quiver::backends::process
