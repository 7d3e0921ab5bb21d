#include "backends/process/wire.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <limits>

namespace quiver::backends::process {
namespace {

// Well under the default socket buffer, which bounds a SOCK_SEQPACKET message.
constexpr size_t kMaxPacket = 64 * 1024;
constexpr size_t kMaxMessageText = 8 * 1024;
constexpr size_t kTensorAlignment = 64;
constexpr uint8_t kLastDataType = static_cast<uint8_t>(DataType::kBytes);

class Writer {
 public:
  explicit Writer(MessageKind kind) { u8(static_cast<uint8_t>(kind)); }
  void u8(uint8_t v) { raw(&v, 1); }
  void u64(uint64_t v) { raw(&v, sizeof v); }
  void i64(int64_t v) { raw(&v, sizeof v); }
  void str(const std::string& s) {
    u64(s.size());
    raw(s.data(), s.size());
  }
  void shape(const Shape& s) {
    u64(s.size());
    for (int64_t d : s) i64(d);
  }
  void status(const Status& st) {
    u8(static_cast<uint8_t>(st.code()));
    str(st.message().size() > kMaxMessageText ? st.message().substr(0, kMaxMessageText) + "..." : st.message());
  }
  void specs(const std::vector<TensorSpec>& specs) {
    u64(specs.size());
    for (const auto& s : specs) {
      str(s.name);
      u8(static_cast<uint8_t>(s.dtype));
      shape(s.shape);
    }
  }
  void signature(const ModelSignature& sig) {
    specs(sig.inputs);
    specs(sig.outputs);
  }
  std::string take() { return std::move(out_); }

 private:
  void raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string out_;
};

// Reads fields in order; the first failure sticks and every later read yields zero.
class Reader {
 public:
  Reader(const std::string& packet, MessageKind expected) : p_(packet) {
    if (u8() != static_cast<uint8_t>(expected)) ok_ = false;
  }
  bool ok() const { return ok_; }
  bool at_end() const { return pos_ == p_.size(); }

  uint8_t u8() {
    uint8_t v = 0;
    raw(&v, 1);
    return v;
  }
  uint64_t u64() {
    uint64_t v = 0;
    raw(&v, sizeof v);
    return v;
  }
  int64_t i64() {
    int64_t v = 0;
    raw(&v, sizeof v);
    return v;
  }
  std::string str() {
    const uint64_t n = u64();
    if (!ok_ || n > p_.size() - pos_) return fail<std::string>();
    std::string s = p_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  Shape shape() {
    const uint64_t rank = u64();
    if (rank > 64) return fail<Shape>();
    Shape s(rank);
    for (auto& d : s) d = i64();
    return s;
  }
  DataType dtype() {
    const uint8_t v = u8();
    if (v > kLastDataType) return fail<DataType>();
    return static_cast<DataType>(v);
  }
  Status status() {
    const uint8_t code = u8();
    std::string message = str();
    // Any code status_code_name() knows, so a code added to core/status.h needs no edit here.
    if (status_code_name(static_cast<StatusCode>(code)) == "UNKNOWN") return fail<Status>();
    if (code == 0) return Status::ok();
    return Status(static_cast<StatusCode>(code), std::move(message));
  }
  // A count of items that each take at least `min_item_bytes`, checked against what is left.
  uint64_t count(size_t min_item_bytes) {
    const uint64_t n = u64();
    if (n > (p_.size() - pos_) / min_item_bytes) return fail<uint64_t>();
    return n;
  }
  std::vector<TensorSpec> specs() {
    std::vector<TensorSpec> out(count(17));  // the smallest spec: empty name, rank 0
    for (auto& s : out) {
      s.name = str();
      s.dtype = dtype();
      s.shape = shape();
    }
    return out;
  }
  ModelSignature signature() {
    ModelSignature sig;
    sig.inputs = specs();
    sig.outputs = specs();
    return sig;
  }

 private:
  template <typename T>
  T fail() {
    ok_ = false;
    return T{};
  }
  void raw(void* out, size_t n) {
    if (!ok_ || n > p_.size() - pos_) {
      ok_ = false;
      return;
    }
    std::memcpy(out, p_.data() + pos_, n);
    pos_ += n;
  }

  const std::string& p_;
  size_t pos_ = 0;
  bool ok_ = true;
};

Status malformed(const char* what) {
  return data_loss(std::string("malformed ") + what + " message from the other side of the worker socket");
}

void write_headers(Writer& w, const std::vector<TensorHeader>& tensors) {
  w.u64(tensors.size());
  for (const auto& t : tensors) {
    w.str(t.name);
    w.u8(static_cast<uint8_t>(t.dtype));
    w.shape(t.shape);
    w.u64(t.offset);
    w.u64(t.size);
  }
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

std::string encode(const LoadMessage& m) {
  Writer w(MessageKind::kLoad);
  const LoadRequest& r = m.request;
  w.str(r.framework);
  w.str(r.artifact_path.string());
  w.signature(r.declared);
  w.i64(r.intra_op_threads);
  w.i64(r.memory_limit_mb);
  w.str(r.label);
  return w.take();
}

std::string encode(const LoadedMessage& m) {
  Writer w(MessageKind::kLoaded);
  w.status(m.status);
  w.signature(m.signature);
  return w.take();
}

std::string encode(MessageKind kind, const TensorsMessage& m) {
  Writer w(kind);
  w.status(m.status);
  write_headers(w, m.tensors);
  return w.take();
}

Result<LoadMessage> decode_load(const std::string& packet) {
  Reader r(packet, MessageKind::kLoad);
  LoadMessage m;
  m.request.framework = r.str();
  m.request.artifact_path = r.str();
  m.request.declared = r.signature();
  m.request.intra_op_threads = static_cast<int>(r.i64());
  m.request.memory_limit_mb = r.i64();
  m.request.label = r.str();
  if (!r.ok() || !r.at_end()) return malformed("load");
  return m;
}

Result<LoadedMessage> decode_loaded(const std::string& packet) {
  Reader r(packet, MessageKind::kLoaded);
  LoadedMessage m;
  m.status = r.status();
  m.signature = r.signature();
  if (!r.ok() || !r.at_end()) return malformed("loaded");
  return m;
}

Result<TensorsMessage> decode_tensors(MessageKind kind, const std::string& packet) {
  Reader r(packet, kind);
  TensorsMessage m;
  m.status = r.status();
  m.tensors.resize(r.count(33));  // the smallest header: empty name, rank 0
  for (auto& t : m.tensors) {
    t.name = r.str();
    t.dtype = r.dtype();
    t.shape = r.shape();
    t.offset = r.u64();
    t.size = r.u64();
  }
  if (!r.ok() || !r.at_end()) return malformed(kind == MessageKind::kInfer ? "infer" : "reply");
  return m;
}

Result<std::vector<TensorHeader>> write_tensors(SharedBuffer& buffer, const std::vector<Tensor>& tensors) {
  std::vector<TensorHeader> headers;
  headers.reserve(tensors.size());
  size_t end = 0;
  for (const auto& t : tensors) {
    const size_t offset = (end + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
    headers.push_back({t.name(), t.dtype(), t.shape(), offset, t.byte_size()});
    end = offset + t.byte_size();
  }
  QUIVER_RETURN_IF_ERROR(buffer.ensure_writable(end));
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (headers[i].size > 0) std::memcpy(buffer.data() + headers[i].offset, tensors[i].bytes().data(), headers[i].size);
  }
  return headers;
}

namespace {

Status check_extent(SharedBuffer& buffer, const std::vector<TensorHeader>& headers) {
  uint64_t end = 0;
  for (const auto& h : headers) {
    if (h.size > std::numeric_limits<uint64_t>::max() - h.offset) return malformed("tensor");
    end = std::max(end, h.offset + h.size);
  }
  return buffer.ensure_readable(end);
}

}  // namespace

Result<std::vector<Tensor>> view_tensors(SharedBuffer& buffer, const std::vector<TensorHeader>& headers) {
  QUIVER_RETURN_IF_ERROR(check_extent(buffer, headers));
  std::vector<Tensor> out;
  out.reserve(headers.size());
  for (const auto& h : headers) {
    out.push_back(Tensor::view(h.name, h.dtype, h.shape, buffer.keepalive(), buffer.data() + h.offset, h.size));
  }
  return out;
}

Result<std::vector<Tensor>> copy_tensors(SharedBuffer& buffer, const std::vector<TensorHeader>& headers) {
  QUIVER_RETURN_IF_ERROR(check_extent(buffer, headers));
  std::vector<Tensor> out;
  out.reserve(headers.size());
  for (const auto& h : headers) {
    const std::byte* from = buffer.data() + h.offset;
    out.emplace_back(h.name, h.dtype, h.shape, std::vector<std::byte>(from, from + h.size));
  }
  return out;
}

Status send_packet(int socket, const std::string& packet, const std::vector<int>& fds) {
  if (packet.size() > kMaxPacket) {
    return invalid_argument("message header of " + std::to_string(packet.size()) + " bytes exceeds the limit of " +
                            std::to_string(kMaxPacket) + " (too many tensors or names too long)");
  }
  iovec iov{const_cast<char*>(packet.data()), packet.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  if (!fds.empty()) {
    if (fds.size() > 2) return internal_error("at most two fds per message");
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
  }
  for (;;) {
    if (::sendmsg(socket, &msg, MSG_NOSIGNAL) >= 0) return Status::ok();
    if (errno == EINTR) continue;
    if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN) return unavailable("worker socket closed");
    return internal_error("cannot send on the worker socket: " + errno_text());
  }
}

Result<std::string> receive_packet(int socket, std::vector<UniqueFd>* fds) {
  std::string packet(kMaxPacket + 1, '\0');
  iovec iov{packet.data(), packet.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = 0;
  for (;;) {
    n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
    if (n >= 0 || errno != EINTR) break;
  }
  if (n < 0 && errno == ECONNRESET) return unavailable("worker socket closed");
  if (n < 0) return internal_error("cannot receive on the worker socket: " + errno_text());
  // Take ownership of any fds first, so none leaks whatever happens next.
  std::vector<UniqueFd> received;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      received.emplace_back(fd);
    }
  }
  if (n == 0) return unavailable("worker socket closed");
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) return data_loss("oversized message on the worker socket");
  if (fds) *fds = std::move(received);
  packet.resize(static_cast<size_t>(n));
  return packet;
}

}  // namespace quiver::backends::process
