// Micro benchmarks of single file-system calls, measured in the calling
// process. The same binary runs natively on a plain directory and inside an
// ovlbox view (or a kernel / FUSE overlay mount, or proot) of the same tree;
// the ratio of each call's time to its native time is the cost of
// interception. bench/micro.sh builds the tree and drives the runs.
//
// The tree, below the benchmark directory (BENCH_DIR or --dir):
//
//   micro/file              a regular file
//   micro/link              a symlink to "file"
//   micro/list/             a directory of about 200 entries
//   micro/copyup/fNNNNN     BENCH_COPYUP_FILES regular files (default 2000)
//
// In an overlay view micro/ and micro/list/ are merged from two lowers and
// micro/copyup/ files lie in a lower, so a write-open of one copies it up.
//
// Every benchmark reports wall-clock time per call (UseRealTime): under
// ovlbox the work is done by the supervisor, not by this process's CPU.
//
// Usage: micro_bench [--dir=DIR] [--copyup_files=N] [--benchmark_...]

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Config {
  std::string dir = ".";      // the benchmark directory
  std::string abs_file;       // micro/file as an absolute path
  long copyup_files = 2000;   // how many micro/copyup/fNNNNN exist
};

Config g_config;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "micro_bench: %s: %s\n", what.c_str(),
               std::strerror(errno));
  std::exit(2);
}

std::string CopyupName(long i) {
  char name[64];
  std::snprintf(name, sizeof name, "micro/copyup/f%05ld", i);
  return name;
}

// A syscall that is never intercepted: the cost of the seccomp filter
// itself (or of ptrace stops under proot) on every call a program makes.
void BM_Getppid(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(syscall(SYS_getppid));
}

void BM_OpenClose(benchmark::State& state) {
  for (auto _ : state) {
    int fd = open("micro/file", O_RDONLY | O_CLOEXEC);
    if (fd < 0) Die("open micro/file");
    close(fd);
  }
}

void BM_Stat(benchmark::State& state) {
  struct stat st;
  for (auto _ : state) {
    if (stat("micro/file", &st) != 0) Die("stat micro/file");
  }
}

void BM_StatAbsolute(benchmark::State& state) {
  struct stat st;
  const char* path = g_config.abs_file.c_str();
  for (auto _ : state) {
    if (stat(path, &st) != 0) Die(std::string("stat ") + path);
  }
}

// A lookup that fails, as compilers' include-path searches do.
void BM_StatMissing(benchmark::State& state) {
  struct stat st;
  for (auto _ : state) {
    if (stat("micro/no-such-file", &st) == 0 || errno != ENOENT)
      Die("stat micro/no-such-file should fail with ENOENT");
  }
}

void BM_Fstat(benchmark::State& state) {
  int fd = open("micro/file", O_RDONLY | O_CLOEXEC);
  if (fd < 0) Die("open micro/file");
  struct stat st;
  for (auto _ : state) {
    if (fstat(fd, &st) != 0) Die("fstat");
  }
  close(fd);
}

// getdents64 alone: one open directory, rewound and read to the end.
void BM_Getdents64(benchmark::State& state) {
  int fd = open("micro/list", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) Die("open micro/list");
  alignas(8) char buf[32768];
  long entries = 0;
  for (auto _ : state) {
    if (lseek(fd, 0, SEEK_SET) != 0) Die("lseek micro/list");
    entries = 0;
    for (;;) {
      long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
      if (n < 0) Die("getdents64 micro/list");
      if (n == 0) break;
      for (long off = 0; off < n;) {
        auto* d = reinterpret_cast<struct dirent64*>(buf + off);
        ++entries;
        off += d->d_reclen;
      }
    }
  }
  state.SetLabel(std::to_string(entries) + " entries");
  close(fd);
}

// What `ls` or a build tool does with a directory: opendir, readdir to the
// end, closedir.
void BM_ListDir(benchmark::State& state) {
  long entries = 0;
  for (auto _ : state) {
    DIR* dir = opendir("micro/list");
    if (dir == nullptr) Die("opendir micro/list");
    entries = 0;
    while (readdir(dir) != nullptr) ++entries;
    closedir(dir);
  }
  state.SetLabel(std::to_string(entries) + " entries");
}

void BM_Readlink(benchmark::State& state) {
  char buf[256];
  for (auto _ : state) {
    if (readlink("micro/link", buf, sizeof buf) < 0) Die("readlink micro/link");
  }
}

// The first write-open of a small lower file: in an overlay this copies
// the file up. Each iteration opens a different file, so the benchmark runs
// a fixed number of iterations, one per pre-created file.
void BM_CopyUp(benchmark::State& state) {
  std::vector<std::string> names;
  names.reserve(g_config.copyup_files);
  for (long i = 0; i < g_config.copyup_files; ++i) names.push_back(CopyupName(i));
  size_t next = 0;
  for (auto _ : state) {
    if (next == names.size()) Die("more iterations than copy-up files");
    const std::string& name = names[next++];
    int fd = open(name.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) Die("open " + name + " for append");
    close(fd);
  }
}

// Removes "--name=value" from argv, returning value (or nullptr).
const char* TakeFlag(int* argc, char** argv, const char* name) {
  std::string prefix = std::string("--") + name + "=";
  for (int i = 1; i < *argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
      const char* value = argv[i] + prefix.size();
      for (int j = i; j + 1 < *argc; ++j) argv[j] = argv[j + 1];
      --*argc;
      return value;
    }
  }
  return nullptr;
}

// Our own flags and environment (before Google Benchmark sees argv).
void ParseFlags(int* argc, char** argv) {
  if (const char* env = std::getenv("BENCH_DIR")) g_config.dir = env;
  if (const char* flag = TakeFlag(argc, argv, "dir")) g_config.dir = flag;
  if (const char* env = std::getenv("BENCH_COPYUP_FILES"))
    g_config.copyup_files = std::atol(env);
  if (const char* flag = TakeFlag(argc, argv, "copyup_files"))
    g_config.copyup_files = std::atol(flag);
}

// Moves into the benchmark directory and checks the tree.
void Prepare() {
  if (chdir(g_config.dir.c_str()) != 0) Die("chdir " + g_config.dir);
  char cwd[4096];
  if (getcwd(cwd, sizeof cwd) == nullptr) Die("getcwd");
  g_config.abs_file = std::string(cwd) + "/micro/file";

  // Fail early, with a clear message, on an incomplete tree.
  struct stat st;
  for (const char* path : {"micro/file", "micro/link", "micro/list"}) {
    if (lstat(path, &st) != 0) Die(std::string("lstat ") + path);
  }
  if (g_config.copyup_files > 0 &&
      lstat(CopyupName(g_config.copyup_files - 1).c_str(), &st) != 0) {
    Die("lstat " + CopyupName(g_config.copyup_files - 1));
  }
}

}  // namespace

int main(int argc, char** argv) {
  ParseFlags(&argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  Prepare();

  benchmark::RegisterBenchmark("getppid", BM_Getppid)->UseRealTime();
  benchmark::RegisterBenchmark("open+close", BM_OpenClose)->UseRealTime();
  benchmark::RegisterBenchmark("stat", BM_Stat)->UseRealTime();
  benchmark::RegisterBenchmark("stat_absolute", BM_StatAbsolute)->UseRealTime();
  benchmark::RegisterBenchmark("stat_missing", BM_StatMissing)->UseRealTime();
  benchmark::RegisterBenchmark("fstat", BM_Fstat)->UseRealTime();
  benchmark::RegisterBenchmark("getdents64_200", BM_Getdents64)->UseRealTime();
  benchmark::RegisterBenchmark("opendir+readdir+closedir_200", BM_ListDir)
      ->UseRealTime();
  benchmark::RegisterBenchmark("readlink", BM_Readlink)->UseRealTime();
  if (g_config.copyup_files > 0) {
    // Once only, whatever --benchmark_repetitions says: the files are
    // copied up after the first pass.
    benchmark::RegisterBenchmark("copy_up_small_file", BM_CopyUp)
        ->UseRealTime()
        ->Iterations(g_config.copyup_files)
        ->Repetitions(1);
  }

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
