#include "supervisor/preload.h"

#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "overlay/dirlist.h"
#include "preload/config.h"
#include "supervisor/call.h"
#include "supervisor/handlers.h"
#include "supervisor/loader_fds.h"

extern const unsigned char kPreloadImage[];
extern const unsigned long kPreloadImageSize;

namespace ovlbox {
namespace {

std::unique_ptr<PreloadService>& Slot() {
  static auto* slot = new std::unique_ptr<PreloadService>();
  return *slot;
}

// A sealed memfd holding `data`.
absl::StatusOr<UniqueFd> SealedFile(const char* name, const void* data, size_t size) {
  UniqueFd fd(memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return absl::ErrnoToStatus(errno, "memfd_create");
  const char* p = static_cast<const char*>(data);
  size_t done = 0;
  while (done < size) {
    ssize_t n = write(fd.get(), p + done, size - done);
    if (n <= 0) return absl::ErrnoToStatus(errno, "writing a memfd");
    done += static_cast<size_t>(n);
  }
  fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
  return fd;
}

bool AddPrefix(ovlbox_preload_config* cfg, size_t* used, char kind, const std::string& path) {
  if (path.empty()) return true;
  size_t need = path.size() + 2;  // kind byte, path, NUL
  // Keep room for the final empty entry.
  if (*used + need + 1 > sizeof(cfg->prefixes)) return false;
  cfg->prefixes[*used] = kind;
  memcpy(cfg->prefixes + *used + 1, path.data(), path.size());
  cfg->prefixes[*used + 1 + path.size()] = '\0';
  *used += need;
  return true;
}

void AddDev(uint64_t* list, uint32_t* n, dev_t dev) {
  for (uint32_t i = 0; i < *n; ++i) {
    if (list[i] == dev) return;
  }
  if (*n < OVLBOX_PRELOAD_MAX_DEVS) list[(*n)++] = dev;
}

// Whether the ELF executable `fd` lists AddressSanitizer's shared runtime
// among its DT_NEEDED libraries.
bool NeedsAsanRuntime(int fd) {
  Elf64_Ehdr eh;
  if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
      eh.e_phnum == 0 || eh.e_phnum > 256) {
    return false;
  }
  std::vector<Elf64_Phdr> ph(eh.e_phnum);
  size_t ph_bytes = ph.size() * sizeof(Elf64_Phdr);
  if (pread(fd, ph.data(), ph_bytes, static_cast<off_t>(eh.e_phoff)) !=
      static_cast<ssize_t>(ph_bytes)) {
    return false;
  }
  const Elf64_Phdr* dynamic = nullptr;
  for (const Elf64_Phdr& p : ph) {
    if (p.p_type == PT_DYNAMIC) dynamic = &p;
  }
  if (dynamic == nullptr || dynamic->p_filesz > (1 << 20)) return false;
  std::vector<Elf64_Dyn> dyn(dynamic->p_filesz / sizeof(Elf64_Dyn));
  size_t dyn_bytes = dyn.size() * sizeof(Elf64_Dyn);
  if (pread(fd, dyn.data(), dyn_bytes, static_cast<off_t>(dynamic->p_offset)) !=
      static_cast<ssize_t>(dyn_bytes)) {
    return false;
  }
  uint64_t strtab = 0, strsz = 0;
  std::vector<uint64_t> needed;
  for (const Elf64_Dyn& d : dyn) {
    if (d.d_tag == DT_NULL) break;
    if (d.d_tag == DT_STRTAB) strtab = d.d_un.d_ptr;
    if (d.d_tag == DT_STRSZ) strsz = d.d_un.d_val;
    if (d.d_tag == DT_NEEDED) needed.push_back(d.d_un.d_val);
  }
  if (needed.empty() || strsz == 0 || strsz > (1 << 22)) return false;
  // The string table's file offset, through the load segment holding it.
  off_t offset = -1;
  for (const Elf64_Phdr& p : ph) {
    if (p.p_type == PT_LOAD && strtab >= p.p_vaddr && strtab < p.p_vaddr + p.p_filesz) {
      offset = static_cast<off_t>(strtab - p.p_vaddr + p.p_offset);
    }
  }
  if (offset < 0) return false;
  // Each needed name alone: a large program's string table runs to
  // megabytes.
  for (uint64_t at : needed) {
    if (at >= strsz) continue;
    char buf[256];
    size_t want = std::min<uint64_t>(sizeof(buf) - 1, strsz - at);
    ssize_t got = pread(fd, buf, want, offset + static_cast<off_t>(at));
    if (got <= 0) continue;
    buf[got] = '\0';
    std::string_view name(buf);
    if (name.find("libasan.so") != std::string_view::npos ||
        name.find("libhwasan.so") != std::string_view::npos ||
        name.find("libclang_rt.asan") != std::string_view::npos ||
        name.find("libclang_rt.hwasan") != std::string_view::npos) {
      return true;
    }
  }
  return false;
}

// Adds the real directory (dev, ino) to the configuration's holders;
// *full when there is no room (listing is then off).
void AddHolder(ovlbox_preload_config* cfg, dev_t dev, ino_t ino, bool* full) {
  for (uint32_t i = 0; i < cfg->n_holders; ++i) {
    if (cfg->holders[i][0] == dev && cfg->holders[i][1] == ino) return;
  }
  if (cfg->n_holders == OVLBOX_PRELOAD_MAX_HOLDERS) {
    *full = true;
    return;
  }
  cfg->holders[cfg->n_holders][0] = dev;
  cfg->holders[cfg->n_holders][1] = ino;
  ++cfg->n_holders;
}

}  // namespace

uint64_t NewPreloadCookie() {
  uint64_t cookie = 0;
  while (cookie == 0) {
    if (getrandom(&cookie, sizeof(cookie), 0) != sizeof(cookie)) return 0;
  }
  return cookie;
}

absl::StatusOr<std::unique_ptr<PreloadService>> PreloadService::Create(View& view,
                                                                       uint64_t cookie) {
  if (cookie == 0) return absl::InvalidArgumentError("no cookie");
  const LayerSet& layers = view.layers();
  std::unique_ptr<PreloadService> service(new PreloadService());
  // The view may cover /etc (the whole root as the lower): the files are
  // then served at their names in the view's /etc (Which). Another layer
  // holding /etc would put them at no name the loader uses.
  for (const Layer& layer : layers.layers()) {
    const std::string& root = layer.path;
    if (!PathWithin("/etc", root)) continue;
    if (&layer != &layers.top_lower()) {
      return absl::FailedPreconditionError(absl::StrCat("the layer ", root, " holds /etc"));
    }
    service->etc_in_view_ = true;
    service->etc_rel_ = root == "/" ? "etc" : "";
  }
  struct stat etc;
  if (stat("/etc", &etc) != 0) return absl::ErrnoToStatus(errno, "/etc");
  service->etc_dev_ = etc.st_dev;
  service->etc_ino_ = etc.st_ino;

  // The list: the library, then the host's own entries.
  std::string list = std::string(kLibraryPath) + "\n";
  if (int fd = open(kListPath, O_RDONLY | O_CLOEXEC); fd >= 0) {
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0 && list.size() < (1 << 20)) list.append(buf, n);
    close(fd);
  }
  auto list_fd = SealedFile("ovlbox-ld.so.preload", list.data(), list.size());
  if (!list_fd.ok()) return list_fd.status();
  service->list_ = std::move(*list_fd);

  // The library, configured.
  std::string image(reinterpret_cast<const char*>(kPreloadImage), kPreloadImageSize);
  size_t at = image.find(OVLBOX_PRELOAD_MAGIC);
  if (at == std::string::npos ||
      image.find(OVLBOX_PRELOAD_MAGIC, at + 1) != std::string::npos ||
      at + sizeof(ovlbox_preload_config) > image.size()) {
    return absl::InternalError("the preload image has no configuration block");
  }
  ovlbox_preload_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  memcpy(cfg.magic, OVLBOX_PRELOAD_MAGIC, sizeof(OVLBOX_PRELOAD_MAGIC));
  cfg.cookie = cookie;
  size_t used = 0;
  bool fits = true;
  std::vector<std::string> roots;
  for (const Layer& layer : layers.layers()) roots.push_back(layer.path);
  if (!layers.work_dir().empty()) roots.push_back(layers.work_dir());
  for (size_t i = 0; i < roots.size(); ++i) {
    const std::string& root = roots[i];
    // The upper (layer 0 when there is one) and the work dir.
    bool upper = (i == 0 && layers.has_upper()) || i >= layers.layers().size();
    fits = fits && AddPrefix(&cfg, &used, upper ? 'U' : 'D', root);
    struct stat st;
    if (stat(root.c_str(), &st) == 0) AddDev(cfg.devs, &cfg.n_devs, st.st_dev);
  }
  // The supervisor's runtime dirs (fifo stand-ins), made on demand.
  const char* tmp = getenv("TMPDIR");
  std::string base = tmp && *tmp ? tmp : "/tmp";
  fits = fits && AddPrefix(&cfg, &used, 'R', base + "/ovlbox-run.");
  // Only fifos there are the supervisor's (stand-ins): other objects on
  // that filesystem (often the host's root) are placed by device alone.
  if (struct stat st; stat(base.c_str(), &st) == 0) cfg.runtime_dev = st.st_dev;
  // The two files served here always come from the supervisor.
  fits = fits && AddPrefix(&cfg, &used, 'D', kListPath);
  fits = fits && AddPrefix(&cfg, &used, 'D', kLibraryPath);
  fits = fits && AddPrefix(&cfg, &used, 'D', OVLBOX_PRELOAD_STATE_PATH);
  for (dev_t dev : view.procfs_devs()) AddDev(cfg.proc_devs, &cfg.n_proc_devs, dev);
  if (struct stat st; stat("/proc", &st) == 0) AddDev(cfg.proc_devs, &cfg.n_proc_devs, st.st_dev);
  if (!fits || cfg.n_proc_devs >= OVLBOX_PRELOAD_MAX_DEVS) {
    // Too many layers to describe: the library stays idle.
    cfg.cookie = 0;
  }
  cfg.dev_check = !view.mounts_in_layers() && cfg.n_devs < OVLBOX_PRELOAD_MAX_DEVS;
  cfg.writable = layers.has_upper();
  cfg.upper_dev = layers.has_upper() ? layers.layer(0).dev : 0;
  for (dev_t dev : layers.fs_devs()) {
    if (cfg.n_fs_devs < OVLBOX_PRELOAD_MAX_DEVS) cfg.fs_devs[cfg.n_fs_devs++] = dev;
  }
  if (layers.fs_devs().size() > OVLBOX_PRELOAD_MAX_DEVS) cfg.cookie = 0;  // cannot map them all
  // One layer inside another would make one real directory back two view
  // directories, and a record of one says nothing of the other; a mount
  // point inside the upper or the work dir would make their entries other
  // than the view's: no listing then. An upper or work dir inside a lower
  // (the whole root as the lower) and mount points inside a lower only
  // keep the directories that hold them unlisted (Unlistable), and the
  // library's walks out of the upper and work dirs (preload.c, hidden_step).
  bool no_listing = view.mounts_in_upper();
  for (int i = layers.first_lower(); i < layers.size(); ++i) {
    // A lower inside another lower, or inside the upper.
    for (int j = 0; j < layers.size(); ++j) {
      no_listing = no_listing || (i != j && PathWithin(layers.layer(i).path, layers.layer(j).path));
    }
  }
  // (More holders than the configuration has room for: no listing either.)
  for (const HiddenDir& h : layers.hidden()) AddHolder(&cfg, h.parent_dev, h.parent_ino, &no_listing);
  for (const auto& [dev, ino] : view.mount_holders()) AddHolder(&cfg, dev, ino, &no_listing);
  service->pure_dirs_ = cfg.cookie != 0 && !no_listing;
  // The shared view state: written here, read by every program.
  UniqueFd state(memfd_create("ovlbox-view-state", MFD_CLOEXEC));
  struct stat state_st;
  if (!state || ftruncate(state.get(), sizeof(ovlbox_view_state)) != 0 ||
      fstat(state.get(), &state_st) != 0) {
    return absl::ErrnoToStatus(errno, "the shared view state");
  }
  cfg.state_dev = state_st.st_dev;
  cfg.state_ino = state_st.st_ino;
  memcpy(image.data() + at, &cfg, sizeof(cfg));
  auto lib_fd = SealedFile("ovlbox-preload.so", image.data(), image.size());
  if (!lib_fd.ok()) return lib_fd.status();
  service->library_ = std::move(*lib_fd);

  void* map = mmap(nullptr, sizeof(ovlbox_view_state), PROT_READ | PROT_WRITE, MAP_SHARED,
                   state.get(), 0);
  if (map == MAP_FAILED) return absl::ErrnoToStatus(errno, "mapping the shared view state");
  service->shared_ = static_cast<ovlbox_view_state*>(map);
  service->shared_->generation = view.generation() + 1;
  service->shared_->layout = service->shared_->generation;
  service->state_ = std::move(state);
  view.MirrorGenerationTo(&service->shared_->generation, &service->shared_->layout);
  view.CountSpecialCopiesIn(&service->shared_->special_copies);
  service->shared_->listing = service->pure_dirs_ ? 1 : 0;
  service->cookie_ = cfg.cookie;
  return service;
}

namespace {

// The shared tables' slots (ovlbox_pure_slot, ovlbox_merged_slot) are
// found by hashing a directory's device and inode, probing a few slots.

// Whether an entry made at generation `at` still holds with the shared
// state's `layout` (preload/config.h).
bool Holds(uint64_t at, uint64_t layout) { return at != 0 && at >= layout; }

// Whether the first slot for (dev, ino) already lists it, still holding:
// the check without a lock that most lookups end at.
template <typename Slot>
bool Listed(const Slot* slots, size_t n, uint64_t h, uint64_t dev, uint64_t ino,
            uint64_t layout) {
  const Slot* first = &slots[h % n];
  return __atomic_load_n(&first->dev, __ATOMIC_RELAXED) == dev &&
         __atomic_load_n(&first->ino, __ATOMIC_RELAXED) == ino &&
         Holds(__atomic_load_n(&first->generation, __ATOMIC_RELAXED), layout);
}

// The slot to write (dev, ino) to: its own, else an empty or stale one
// among the probes, else the first. Null when it lists it, still holding.
template <typename Slot>
Slot* SlotFor(Slot* slots, size_t n, uint64_t h, uint64_t dev, uint64_t ino, uint64_t layout) {
  Slot* victim = nullptr;
  for (int i = 0; i < OVLBOX_PRELOAD_STATE_PROBES; ++i) {
    Slot* slot = &slots[(h + i) % n];
    if (slot->dev == dev && slot->ino == ino && slot->generation != 0) {
      victim = slot;
      break;
    }
    if (victim == nullptr && !Holds(slot->generation, layout)) victim = slot;
  }
  if (victim == nullptr) victim = &slots[h % n];
  if (victim->dev == dev && victim->ino == ino && Holds(victim->generation, layout)) return nullptr;
  return victim;
}

// A seqlock write of `slot` (readers retry or give up while seq is odd):
// its identity, then whatever `fill` writes.
template <typename Slot, typename Fill>
void WriteSlot(Slot* slot, uint64_t dev, uint64_t ino, uint64_t at, Fill fill) {
  __atomic_store_n(&slot->seq, slot->seq + 1, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  __atomic_store_n(&slot->dev, dev, __ATOMIC_RELAXED);
  __atomic_store_n(&slot->ino, ino, __ATOMIC_RELAXED);
  __atomic_store_n(&slot->generation, at, __ATOMIC_RELAXED);
  fill(slot);
  __atomic_store_n(&slot->seq, slot->seq + 1, __ATOMIC_RELEASE);
}

// Whether the directory `dir_fd` (any open mode) is plain
// (OVLBOX_PURE_PLAIN, preload/config.h); false when it cannot be read.
bool HoldsOnlyPlainEntries(int dir_fd) {
  UniqueFd fd(openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return false;
  std::vector<char> buf(16384);
  for (;;) {
    long n = syscall(SYS_getdents64, fd.get(), buf.data(), buf.size());
    if (n < 0) return false;
    if (n == 0) return true;
    if (!ovlbox_dirents_plain(buf.data(), n)) return false;
  }
}

// Whether the real directory (dev, ino) holds what the view shows
// otherwise than the layer: the upper or work dir inside a lower (hidden
// in the view), or a mount point.
bool Unlistable(const View& view, uint64_t dev, uint64_t ino) {
  return view.layers().HoldsHidden(dev, ino) || view.HoldsMount(dev, ino);
}

}  // namespace

bool PreloadService::NotePureDir(const View& view, const ViewDir& dir, uint64_t seen) const {
  if (!pure_dirs_ || dir.stack.size() != 1) return false;
  const LayerDir& only = dir.stack.front();
  const LayerSet& layers = view.layers();
  if (only.layer < layers.first_lower() || only.xwhiteouts) return false;
  uint64_t dev = dir.st.st_dev, ino = dir.st.st_ino;
  // The entry holds from the generation `dir` was judged at: a change of
  // the layout since (in flight then or later) has made it stale already.
  uint64_t at = seen + 1;  // the mirror's numbering (View::Changed)
  uint64_t layout = __atomic_load_n(&shared_->layout, __ATOMIC_ACQUIRE);
  if (!Holds(at, layout)) return false;
  uint64_t h = ovlbox_pure_hash(dev, ino);
  // Listed already: most calls end here, before the holders are searched.
  if (Listed(shared_->slots, OVLBOX_PRELOAD_STATE_SLOTS, h, dev, ino, layout)) return false;
  if (Unlistable(view, dev, ino)) return false;
  // A lower's directory never changes: its listing is read once.
  std::call_once(dir.plain_once, [&dir] { dir.plain = HoldsOnlyPlainEntries(dir.top_fd()); });
  uint64_t flags = dir.plain ? OVLBOX_PURE_PLAIN : 0;
  std::lock_guard<std::mutex> lock(mu_);
  layout = __atomic_load_n(&shared_->layout, __ATOMIC_ACQUIRE);
  if (!Holds(at, layout)) return false;
  ovlbox_pure_slot* slot =
      SlotFor(shared_->slots, OVLBOX_PRELOAD_STATE_SLOTS, h, dev, ino, layout);
  if (slot == nullptr) return false;
  WriteSlot(slot, dev, ino, at, [flags](ovlbox_pure_slot* s) {
    __atomic_store_n(&s->flags, flags, __ATOMIC_RELAXED);
  });
  return true;
}

bool PreloadService::NoteMergedDir(const View& view, const ViewDir& dir, uint64_t seen) const {
  if (!pure_dirs_ || dir.stack.size() < 2) return false;
  for (const LayerDir& ld : dir.stack) {
    if (ld.xwhiteouts) return false;
  }
  uint64_t at = seen + 1;  // as in NotePureDir
  uint64_t layout = __atomic_load_n(&shared_->layout, __ATOMIC_ACQUIRE);
  if (!Holds(at, layout)) return false;
  {
    uint64_t dev = dir.st.st_dev, ino = dir.st.st_ino;
    uint64_t h = ovlbox_pure_hash(dev, ino);
    if (Listed(shared_->merged, OVLBOX_PRELOAD_MERGED_SLOTS, h, dev, ino, layout)) return false;
  }
  std::call_once(dir.real_paths_once, [&dir] {
    std::string paths;
    std::vector<std::pair<uint64_t, uint64_t>> ids;
    for (const LayerDir& ld : dir.stack) {
      std::string real = FdPath(ld.fd.get());
      struct stat st;
      if (real.empty() || real[0] != '/' || real.ends_with(" (deleted)") ||
          fstat(ld.fd.get(), &st) != 0) {
        return;
      }
      paths += real;
      paths.push_back('\0');
      ids.emplace_back(st.st_dev, st.st_ino);
    }
    dir.real_paths = std::move(paths);
    dir.real_ids = std::move(ids);
  });
  const std::string& paths = dir.real_paths;
  if (paths.empty() || paths.size() > OVLBOX_PRELOAD_MERGED_BYTES) return false;
  for (const auto& [dev, ino] : dir.real_ids) {
    if (Unlistable(view, dev, ino)) return false;
  }
  uint32_t upper_first = view.layers().has_upper() && dir.top_layer() == 0 ? 1 : 0;
  uint32_t n_dirs = static_cast<uint32_t>(dir.stack.size());
  // What the view's listing shows for "." and "..", for the library's own
  // listings (read before taking the lock: it may look the parent up).
  uint64_t self_ino = dir.stable_ino;
  uint64_t dotdot_ino = DotDotIno(view, dir);
  std::lock_guard<std::mutex> lock(mu_);
  layout = __atomic_load_n(&shared_->layout, __ATOMIC_ACQUIRE);
  if (!Holds(at, layout)) return false;
  // The same record under each of its real directories: a program holds
  // whichever one it was given (its cwd at the view root is a lower's
  // directory; a directory copied up after it went there stays the
  // lower's), and each stands for the whole merged directory.
  bool written = false;
  for (uint32_t key = 0; key < dir.real_ids.size(); ++key) {
    const auto& [dev, ino] = dir.real_ids[key];
    uint64_t h = ovlbox_pure_hash(dev, ino);
    ovlbox_merged_slot* slot =
        SlotFor(shared_->merged, OVLBOX_PRELOAD_MERGED_SLOTS, h, dev, ino, layout);
    if (slot == nullptr) break;
    WriteSlot(slot, dev, ino, at, [&](ovlbox_merged_slot* s) {
      __atomic_store_n(&s->n_dirs, n_dirs, __ATOMIC_RELAXED);
      __atomic_store_n(&s->upper_first, upper_first, __ATOMIC_RELAXED);
      __atomic_store_n(&s->paths_len, static_cast<uint32_t>(paths.size()), __ATOMIC_RELAXED);
      __atomic_store_n(&s->key_index, key, __ATOMIC_RELAXED);
      __atomic_store_n(&s->self_ino, self_ino, __ATOMIC_RELAXED);
      __atomic_store_n(&s->dotdot_ino, dotdot_ino, __ATOMIC_RELAXED);
      for (size_t i = 0; i < paths.size(); ++i) {
        __atomic_store_n(&s->paths[i], paths[i], __ATOMIC_RELAXED);
      }
    });
    written = true;
  }
  return written;
}

bool PreloadService::NoteDir(const View& view, const ViewDir& dir, uint64_t seen) const {
  return dir.merged() ? NoteMergedDir(view, dir, seen) : NotePureDir(view, dir, seen);
}

const PreloadService* PreloadService::Get() { return Slot().get(); }

void PreloadService::Install(std::unique_ptr<PreloadService> service) {
  Slot() = std::move(service);
}

bool PreloadService::Serves(std::string_view path) {
  std::string_view name = path.substr(path.rfind('/') + 1);
  return name == "ld.so.preload" || name == "ovlbox-preload.so" || name == "ovlbox-view-state";
}

PreloadService::File PreloadService::Which(const Target& t) const {
  if (t.last != LastKind::kNormal || t.trailing_slash) return File::kNone;
  if (t.in_view ? !etc_in_view_ : !t.host_parent) return File::kNone;
  File file;
  if (t.name == "ld.so.preload") {
    file = File::kList;
  } else if (t.name == "ovlbox-preload.so") {
    file = File::kLibrary;
  } else if (t.name == "ovlbox-view-state") {
    file = File::kState;
  } else {
    return File::kNone;
  }
  if (t.in_view) {
    // The view's /etc: the list for the loader alone (ServedInView), the
    // library and the state where the view has no file of that name.
    std::string want = etc_rel_.empty() ? t.name : absl::StrCat(etc_rel_, "/", t.name);
    if (t.rel != want || (file != File::kList && t.exists)) return File::kNone;
    return file;
  }
  struct stat st;
  if (fstat(t.host_parent->get(), &st) != 0 || st.st_dev != etc_dev_ || st.st_ino != etc_ino_) {
    return File::kNone;
  }
  return file;
}

bool PreloadService::ServedTo(const Target& t, File file, pid_t tid, uint64_t ip) const {
  if (file == File::kNone) return false;
  return file != File::kList || !t.in_view || LoaderFds::FromLoader(tid, ip);
}

// Whether thread `tid`'s environment asks the loader to list the
// libraries instead of running the program (ldd).
bool ListingLibraries(pid_t tid) {
  std::string path = "/proc/" + std::to_string(tid) + "/environ";
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  std::string env;
  char buf[16384];
  ssize_t n;
  while ((n = read(fd.get(), buf, sizeof(buf))) > 0 && env.size() < (1 << 20)) env.append(buf, n);
  static constexpr std::string_view kTrace = "LD_TRACE_LOADED_OBJECTS=";
  for (size_t at = 0; at < env.size();) {
    size_t end = env.find('\0', at);
    if (end == std::string::npos) end = env.size();
    if (std::string_view(env).substr(at, end - at).starts_with(kTrace)) return true;
    at = end + 1;
  }
  return false;
}

bool PreloadService::WantedBy(pid_t tid) const {
  if (ListingLibraries(tid)) return false;
  // The executable by its identity first (one stat through the magic
  // link); it is opened and read only the first time it is seen.
  std::string exe = "/proc/" + std::to_string(tid) + "/exe";
  struct stat st;
  if (stat(exe.c_str(), &st) != 0) return true;
  auto key_of = [](const struct stat& s) {
    return absl::StrCat(s.st_dev, ":", s.st_ino, ":", s.st_ctim.tv_sec, ".", s.st_ctim.tv_nsec);
  };
  std::string key = key_of(st);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = wanted_.find(key); it != wanted_.end()) return it->second;
  }
  UniqueFd fd(open(exe.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return true;
  // What is read is what is remembered: the key of the file opened.
  if (fstat(fd.get(), &st) != 0) return true;
  key = key_of(st);
  bool wanted = !NeedsAsanRuntime(fd.get());
  std::lock_guard<std::mutex> lock(mu_);
  if (wanted_.size() >= 1024) wanted_.clear();
  wanted_[key] = wanted;
  return wanted;
}

SysResult<UniqueFd> PreloadService::OpenFor(const Target& t, File file) const {
  if (file != File::kList || !t.in_view) return Open(file);
  // The view's own /etc/ld.so.preload, as it is now (the program may have
  // changed it), after the library.
  std::string list = std::string(kLibraryPath) + "\n";
  if (t.exists && S_ISREG(t.st.st_mode)) {
    UniqueFd own(t.fd.OpenReadOnly());
    char buf[4096];
    ssize_t n;
    while (own && (n = read(own.get(), buf, sizeof(buf))) > 0 && list.size() < (1 << 20)) {
      list.append(buf, n);
    }
  }
  auto sealed = SealedFile("ovlbox-ld.so.preload", list.data(), list.size());
  if (!sealed.ok()) return Errno{EIO};
  int fd = open(SelfFdPath(sealed->get()).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno{errno};
  return UniqueFd(fd);
}

SysResult<UniqueFd> PreloadService::Open(File file) const {
  const UniqueFd& src = file == File::kList ? list_ : file == File::kLibrary ? library_ : state_;
  int fd = open(SelfFdPath(src.get()).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno{errno};
  return UniqueFd(fd);
}

}  // namespace ovlbox
