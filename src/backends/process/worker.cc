#include "backends/process/worker.h"

#include <sys/prctl.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>
#include <string_view>

#include "backends/process/shared_buffer.h"
#include "backends/process/wire.h"

namespace quiver::backends::process {
namespace {

void log_error(const std::string& label, const std::string& message) {
  std::fprintf(stderr, "quiver worker (%s): %s\n", label.c_str(), message.c_str());
}

std::string out_of_memory_message(const LoadRequest& request) {
  std::string m = "the worker process of " + request.label + " ran out of memory";
  if (request.memory_limit_mb > 0) m += " (limit " + std::to_string(request.memory_limit_mb) + " MB)";
  return m;
}

// Runtimes report a failed allocation in their own words (libtorch: "can't allocate
// memory"); under a memory limit that is the limit at work, so say so.
Status explain_out_of_memory(Status status, const LoadRequest& request) {
  const std::string& m = status.message();
  const bool out_of_memory = m.find("allocate memory") != std::string::npos ||
                             m.find("Cannot allocate memory") != std::string::npos ||
                             m.find("bad_alloc") != std::string::npos;
  if (!out_of_memory || status.code() != StatusCode::kInternal) return status;
  return internal_error(out_of_memory_message(request) + ": " + m);
}

Result<std::unique_ptr<Backend>> load_guarded(const WorkerLoader& loader, const LoadRequest& request) {
  try {
    return loader(request);
  } catch (const std::bad_alloc&) {
    return internal_error(out_of_memory_message(request) + " while loading");
  } catch (const std::exception& e) {
    return internal_error(std::string("loading raised: ") + e.what());
  }
}

// One request: inputs viewed in shared memory, outputs copied into the reply buffer.
TensorsMessage answer(Backend& backend, const LoadRequest& request, SharedBuffer& in, SharedBuffer& out,
                      const TensorsMessage& infer) {
  TensorsMessage reply;
  try {
    auto inputs = view_tensors(in, infer.tensors);
    if (!inputs.is_ok()) {
      reply.status = inputs.status();
      return reply;
    }
    auto outputs = backend.infer(*inputs);
    if (!outputs.is_ok()) {
      reply.status = explain_out_of_memory(outputs.status(), request);
      return reply;
    }
    auto headers = write_tensors(out, *outputs);
    if (!headers.is_ok()) {
      reply.status = headers.status();
      return reply;
    }
    reply.tensors = std::move(headers).value();
  } catch (const std::bad_alloc&) {
    reply.status = internal_error(out_of_memory_message(request));
  } catch (const std::exception& e) {
    reply.status = internal_error(std::string("model raised: ") + e.what());
  }
  return reply;
}

}  // namespace

int worker_main(int argc, char** argv, const WorkerLoader& loader) {
  int socket = -1;
  std::string label = "worker";
  for (int i = 0; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--socket-fd") {
      socket = std::atoi(argv[i + 1]);
    } else if (flag == "--label") {
      label = argv[i + 1];
    }
  }
  if (socket < 0) {
    std::fprintf(stderr, "usage: quiver worker --socket-fd N [--label LABEL] (started by the server)\n");
    return 2;
  }
  // Until it gets a model this process is a standby; tell them apart in ps and top.
  ::prctl(PR_SET_NAME, "quiver-standby");
  std::vector<UniqueFd> fds;
  auto packet = receive_packet(socket, &fds);
  if (!packet.is_ok()) {
    log_error(label, packet.status().message());
    return 2;
  }
  auto load = decode_load(*packet);
  if (!load.is_ok() || fds.size() != 2) {
    log_error(label, load.is_ok() ? "the load message must carry two shared memory fds" : load.status().message());
    return 2;
  }
  LoadRequest request = load->request;
  request.isolated = false;  // this process is the isolation
  SharedBuffer requests(std::move(fds[0]));
  SharedBuffer replies(std::move(fds[1]));

  ::prctl(PR_SET_NAME, "quiver-worker");
  auto backend = load_guarded(loader, request);
  LoadedMessage loaded;
  if (backend.is_ok()) {
    loaded.signature = (*backend)->signature();
  } else {
    loaded.status = explain_out_of_memory(backend.status(), request);
  }
  if (Status st = send_packet(socket, encode(loaded)); !st.is_ok() || !backend.is_ok()) return 1;

  for (;;) {
    auto next = receive_packet(socket);
    if (!next.is_ok()) {
      if (next.status().code() == StatusCode::kUnavailable) return 0;  // the server let go
      log_error(label, next.status().message());
      return 2;
    }
    auto infer = decode_tensors(MessageKind::kInfer, *next);
    if (!infer.is_ok()) {
      log_error(label, infer.status().message());
      return 2;
    }
    const TensorsMessage reply = answer(**backend, request, requests, replies, *infer);
    if (Status st = send_packet(socket, encode(MessageKind::kReply, reply)); !st.is_ok()) return 0;
  }
}

}  // namespace quiver::backends::process
