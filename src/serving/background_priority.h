// Loading and warming a version run at a lower CPU priority than serving, so that a
// version loading beside live ones takes the cores they leave instead of their
// latency. Linux gives each thread its own nice value; a thread can always lower its
// own priority but, without CAP_SYS_NICE, never raise it back. So the work runs on a
// short-lived helper thread that lowers itself, and the caller (and every thread it
// starts later, such as serving workers) keeps its priority.
//
// What the helper starts inherits its priority for good (a worker process, a thread
// pool): callers use it only for work that starts no such thread.
#pragma once

#include <functional>

namespace quiver::serving {

// How much lower than the caller's the helper's priority is (nice steps). Each step
// is about a quarter less CPU share; five steps give the helper about a third of a
// serving thread's share when they compete, so serving comes first, yet a server
// saturated for minutes still finishes loading the version that is to replace a bad
// one (ten steps, a tenth, starved a warmup of a few CPU seconds for minutes).
inline constexpr int kBackgroundNiceSteps = 5;

// Runs `work` on a helper thread whose nice value is the caller's plus
// kBackgroundNiceSteps (capped at 19), and waits for it. Exceptions from `work`
// reach the caller.
void run_at_background_priority(const std::function<void()>& work);

// The calling thread's nice value (-20..19).
int current_thread_nice();

}  // namespace quiver::serving
