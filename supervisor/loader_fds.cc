#include "supervisor/loader_fds.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <atomic>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "overlay/unique_fd.h"
#include "policy/filter.h"
#include "supervisor/preload.h"

namespace ovlbox {
namespace {

// The executable segment of a thread's program interpreter.
struct Range {
  uint64_t lo = 0, hi = 0;
};

class Table {
 public:
  void Set(pid_t tid, Range r) {
    std::lock_guard<std::mutex> lock(mu_);
    // Bounded: threads that never reach the end of their loading (a
    // program killed meanwhile) are dropped all at once.
    if (map_.size() >= 4096) map_.clear();
    map_[tid] = r;
    size_.store(map_.size(), std::memory_order_release);
  }
  bool Get(pid_t tid, Range* r) {
    // Most opens come while no thread is loading: no lock then.
    if (size_.load(std::memory_order_acquire) == 0) return false;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(tid);
    if (it == map_.end()) return false;
    *r = it->second;
    return true;
  }
  void Erase(pid_t tid) {
    if (size_.load(std::memory_order_acquire) == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    map_.erase(tid);
    size_.store(map_.size(), std::memory_order_release);
  }

 private:
  std::mutex mu_;
  absl::flat_hash_map<pid_t, Range> map_;
  std::atomic<size_t> size_{0};
};

Table& Loaders() {
  static Table* table = new Table;
  return *table;
}

// `len` bytes of `tid`'s memory at `addr`.
bool ReadMemory(pid_t tid, uint64_t addr, void* out, size_t len) {
  iovec local{out, len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  return process_vm_readv(tid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(len);
}

// The program interpreter's load address in `tid` (AT_BASE), 0 when it
// has none (a static program, or the loader run as the program).
uint64_t InterpreterBase(pid_t tid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/auxv", tid);
  UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return 0;
  Elf64_auxv_t aux[64];
  ssize_t n = read(fd.get(), aux, sizeof(aux));
  for (ssize_t i = 0; n > 0 && i < n / static_cast<ssize_t>(sizeof(aux[0])); ++i) {
    if (aux[i].a_type == AT_NULL) break;
    if (aux[i].a_type == AT_BASE) return aux[i].a_un.a_val;
  }
  return 0;
}

// The executable segment of `tid`'s program interpreter, when it holds
// `ip`: from the interpreter's ELF header and program headers, which the
// loader maps with its first segment, at AT_BASE.
bool FindLoader(pid_t tid, uint64_t ip, Range* range) {
  uint64_t base = InterpreterBase(tid);
  Elf64_Ehdr eh;
  if (base == 0 || !ReadMemory(tid, base, &eh, sizeof(eh)) ||
      memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_type != ET_DYN || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
      eh.e_phnum > 32) {
    return false;
  }
  Elf64_Phdr ph[32];
  if (!ReadMemory(tid, base + eh.e_phoff, ph, eh.e_phnum * sizeof(Elf64_Phdr))) return false;
  for (int i = 0; i < eh.e_phnum; ++i) {
    if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X)) continue;
    uint64_t lo = base + ph[i].p_vaddr, hi = lo + ph[i].p_memsz;
    if (ip >= lo && ip < hi) {
      *range = Range{lo, hi};
      return true;
    }
  }
  return false;
}

// The interpreters' segments FromLoader found, by thread, until the thread
// begins its loading or calls execve: a view covering /etc asks for the
// loader's `access` and `open` of the list, and Begin then needs it again.
Table& Probed() {
  static Table* table = new Table;
  return *table;
}

// FindLoader, from what FromLoader found first.
bool FindLoaderOnce(pid_t tid, uint64_t ip, Range* range) {
  if (Probed().Get(tid, range) && ip >= range->lo && ip < range->hi) return true;
  return FindLoader(tid, ip, range);
}

}  // namespace

bool FdFree(pid_t tid, int fd) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/fd/%d", tid, fd);
  struct stat st;
  return lstat(path, &st) != 0 && errno == ENOENT;
}

void LoaderFds::Begin(pid_t tid, uint64_t ip) {
  const PreloadService* preload = PreloadService::Get();
  Range range;
  if (preload != nullptr && preload->LetsLoaderFstat() && FindLoaderOnce(tid, ip, &range)) {
    Loaders().Set(tid, range);
  } else {
    Loaders().Erase(tid);
  }
  Probed().Erase(tid);
}

bool LoaderFds::FromLoader(pid_t tid, uint64_t ip) {
  Range range;
  if (!FindLoaderOnce(tid, ip, &range)) return false;
  Probed().Set(tid, range);
  return true;
}

void LoaderFds::End(pid_t tid) {
  Loaders().Erase(tid);
  Probed().Erase(tid);
}

void LoaderFds::Place(pid_t tid, uint64_t ip, Response* r) {
  Range range;
  if (r->kind != Response::Kind::kFd || !Loaders().Get(tid, &range)) return;
  if (ip < range.lo || ip >= range.hi) {
    // An open from outside the loader: its loading is over.
    Loaders().Erase(tid);
    return;
  }
  if (FdFree(tid, kLoaderFd)) r->target_fd = kLoaderFd;
}

}  // namespace ovlbox
