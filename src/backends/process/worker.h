// The worker process's side: `quiver worker --socket-fd N [--label LABEL]`.
//
// Receives one Load message, loads the model with the loader it is given (the real
// in-process backends: this module does not link them, which keeps the dependency
// pointing from backends to process), reports the effective signature, then answers
// Infer messages one at a time until the socket closes. Out-of-memory inside the
// model (std::bad_alloc, or the runtime's own report of a failed allocation) is
// answered as an Internal error saying the worker ran out of memory and under which
// limit; if the process dies instead, the server sees end-of-file and restarts it.
#pragma once

#include <functional>
#include <memory>

#include "backends/backend.h"
#include "core/status.h"

namespace quiver::backends::process {

using WorkerLoader = std::function<Result<std::unique_ptr<Backend>>(const LoadRequest&)>;

// argv holds the arguments after `worker`. Returns the process exit code: 0 when the
// server closed the socket, 1 when loading failed, 2 for bad arguments or a protocol
// error. Writes diagnostics to stderr (which the server's log receives).
int worker_main(int argc, char** argv, const WorkerLoader& loader);

}  // namespace quiver::backends::process
