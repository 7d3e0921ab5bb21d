// The client side of the `quiver` command: push, models, alias, apply, status,
// history, rollback and infer, each a subcommand that talks to a Quiver server over
// its REST API (--server URL, default $QUIVER_SERVER, else http://127.0.0.1:8000).
//
// Thread-safety: call once while building the command line, before parsing.
#pragma once

#include <CLI/CLI.hpp>

namespace quiver::cli {

// Adds push, models, alias, apply, status, history, rollback and infer to `app`.
// Each subcommand's callback performs the command; on failure it prints one line
// "error: <message>" to stderr and throws CLI::RuntimeError(exit_code): 1 when the
// server refused or the command failed, 2 for bad arguments or input files, 3 when
// the server could not be reached. Results go to stdout; --json on models, status
// and history prints the server's JSON answer as is.
void register_client_commands(CLI::App& app);

}  // namespace quiver::cli
