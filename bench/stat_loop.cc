// The "million intercepted calls" memory check: stat() one path a million
// times, pausing at checkpoints so that a driver can sample the memory of
// the process serving the calls (the ovlbox supervisor, the parent of
// this program's parent, ovlbox's keeper) while nothing is in flight. The calls are the newfstatat system
// call made directly, not glibc's stat(): ovlbox's preload library would
// answer those in this process, and the check is of the supervisor.
//
// Usage: stat_loop PATH [CALLS] [CHECKPOINTS]
//
// Prints "ppid P" first, then at each of CHECKPOINTS+1 evenly spaced points
// (0 and CALLS included) one line "at N ELAPSED_SECONDS" and waits for a
// line on stdin before going on. ELAPSED_SECONDS is the wall time spent in
// the calls since the previous checkpoint.

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

void Checkpoint(long done, double seconds) {
  std::printf("at %ld %.6f\n", done, seconds);
  std::fflush(stdout);
  char line[64];
  if (std::fgets(line, sizeof line, stdin) == nullptr) std::exit(0);
}

// stat(path, st) as the system call itself.
int RawStat(const char* path, struct stat* st) {
  return static_cast<int>(syscall(SYS_newfstatat, AT_FDCWD, path, st, 0));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: stat_loop PATH [CALLS] [CHECKPOINTS]\n");
    return 2;
  }
  const char* path = argv[1];
  const long calls = argc > 2 ? std::atol(argv[2]) : 1000000;
  const long checkpoints = argc > 3 ? std::atol(argv[3]) : 4;

  std::printf("ppid %ld\n", static_cast<long>(getppid()));
  struct stat st;
  if (RawStat(path, &st) != 0) {
    std::fprintf(stderr, "stat_loop: %s: %s\n", path, std::strerror(errno));
    return 1;
  }
  Checkpoint(0, 0.0);
  long done = 0;
  for (long k = 1; k <= checkpoints; ++k) {
    const long until = calls * k / checkpoints;
    auto start = std::chrono::steady_clock::now();
    for (; done < until; ++done) {
      if (RawStat(path, &st) != 0) {
        std::fprintf(stderr, "stat_loop: %s: %s\n", path, std::strerror(errno));
        return 1;
      }
    }
    std::chrono::duration<double> spent = std::chrono::steady_clock::now() - start;
    Checkpoint(done, spent.count());
  }
  return 0;
}
