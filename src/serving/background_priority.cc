#include "serving/background_priority.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <thread>

namespace quiver::serving {
namespace {

id_t thread_id() { return static_cast<id_t>(::syscall(SYS_gettid)); }

}  // namespace

int current_thread_nice() {
  errno = 0;
  const int nice = ::getpriority(PRIO_PROCESS, thread_id());
  return errno == 0 ? nice : 0;
}

void run_at_background_priority(const std::function<void()>& work) {
  const int target = std::min(19, current_thread_nice() + kBackgroundNiceSteps);
  std::exception_ptr failure;
  std::thread helper([&] {
    // Lowering is always allowed; if it fails anyway the work still runs, at the
    // caller's priority.
    (void)::setpriority(PRIO_PROCESS, thread_id(), target);
    try {
      work();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  helper.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace quiver::serving
