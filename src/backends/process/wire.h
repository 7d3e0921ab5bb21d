// The protocol between the server and a worker process.
//
// Transport: a SOCK_SEQPACKET Unix socket pair (message boundaries kept, in order,
// and the peer's death shows as end-of-file), created by the server and inherited by
// the worker as fd 3. Every message is one packet holding a small binary header;
// tensor bytes travel in two SharedBuffers (one per direction) whose memfds go to
// the worker with the first message (SCM_RIGHTS).
//
//   server -> worker  Load      {request: framework, artifact, declared signature,
//                                intra-op threads, memory limit, label} + 2 fds
//   worker -> server  Loaded    {status, effective signature}
//   server -> worker  Infer     {tensors: name, dtype, shape, offset, size}
//   worker -> server  Reply     {status, tensors}
//
// Offsets are into the sender's buffer. Both ends are the same binary, so integers
// go in host byte order; every read is bounds-checked all the same, because a worker
// that dies mid-write must yield an error, never a crash of the server.
//
// Thread-safety: the functions are stateless; a socket is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/process/shared_buffer.h"
#include "backends/process/unique_fd.h"
#include "core/signature.h"
#include "core/status.h"
#include "core/tensor.h"

namespace quiver::backends::process {

enum class MessageKind : uint8_t { kLoad = 1, kLoaded = 2, kInfer = 3, kReply = 4 };

// Where one tensor's bytes lie in a SharedBuffer.
struct TensorHeader {
  std::string name;
  DataType dtype = DataType::kFp32;
  Shape shape;
  uint64_t offset = 0;
  uint64_t size = 0;
};

struct LoadMessage {
  LoadRequest request;
};

struct LoadedMessage {
  Status status;
  ModelSignature signature;
};

// Infer and Reply: a Reply carries a status, and tensors only when it is ok.
struct TensorsMessage {
  Status status;
  std::vector<TensorHeader> tensors;
};

std::string encode(const LoadMessage& m);
std::string encode(const LoadedMessage& m);
std::string encode(MessageKind kind, const TensorsMessage& m);  // kInfer or kReply

Result<LoadMessage> decode_load(const std::string& packet);
Result<LoadedMessage> decode_loaded(const std::string& packet);
Result<TensorsMessage> decode_tensors(MessageKind kind, const std::string& packet);

// Copies `tensors` into `buffer` (growing it) and describes where each one went.
Result<std::vector<TensorHeader>> write_tensors(SharedBuffer& buffer, const std::vector<Tensor>& tensors);
// Tensors that view `buffer` without copying (kept alive by its mapping).
Result<std::vector<Tensor>> view_tensors(SharedBuffer& buffer, const std::vector<TensorHeader>& headers);
// Tensors that own a copy of their bytes, for results that outlive the next message.
Result<std::vector<Tensor>> copy_tensors(SharedBuffer& buffer, const std::vector<TensorHeader>& headers);

// One packet, with up to two fds attached. Unavailable when the peer is gone.
Status send_packet(int socket, const std::string& packet, const std::vector<int>& fds = {});
// The next packet; with `fds`, also the fds attached to it. Unavailable when the peer
// is gone (end-of-file or reset), DataLoss for a packet over the size limit.
Result<std::string> receive_packet(int socket, std::vector<UniqueFd>* fds = nullptr);

}  // namespace quiver::backends::process
