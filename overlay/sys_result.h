// SysResult<T>: a value or an errno, for the per-syscall hot path where an
// errno is the answer the traced program gets (absl::Status is kept for
// configuration and setup errors that a user reads).
#ifndef OVLBOX_OVERLAY_SYS_RESULT_H_
#define OVLBOX_OVERLAY_SYS_RESULT_H_

#include <cassert>
#include <optional>
#include <utility>

namespace ovlbox {

struct Errno {
  int value;
};

template <typename T>
class [[nodiscard]] SysResult {
 public:
  SysResult(T value) : value_(std::move(value)) {}  // NOLINT: implicit
  SysResult(Errno e) : error_(e.value) {}           // NOLINT: implicit
  bool ok() const { return error_ == 0; }
  int error() const { return error_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  int error_ = 0;
};

}  // namespace ovlbox

// Returns the errno of a failed SysResult expression from the enclosing
// function (which returns a SysResult or an Errno-constructible type).
#define OVL_CONCAT_INNER(a, b) a##b
#define OVL_CONCAT(a, b) OVL_CONCAT_INNER(a, b)
#define OVL_ASSIGN_OR_RETURN(lhs, expr) \
  OVL_ASSIGN_OR_RETURN_IMPL(OVL_CONCAT(ovl_result_, __LINE__), lhs, expr)
#define OVL_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return ::ovlbox::Errno{tmp.error()}; \
  lhs = std::move(*tmp)

// absl::Status helpers (Debian's abseil 20220623 has no RETURN_IF_ERROR).
#define OVL_RETURN_IF_ERROR(expr)                 \
  do {                                            \
    auto ovl_status_ = (expr);                    \
    if (!ovl_status_.ok()) return ovl_status_;    \
  } while (0)
#define OVL_ASSIGN_OR_RETURN_STATUS(lhs, expr) \
  OVL_ASSIGN_OR_RETURN_STATUS_IMPL(OVL_CONCAT(ovl_status_or_, __LINE__), lhs, expr)
#define OVL_ASSIGN_OR_RETURN_STATUS_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                     \
  if (!tmp.ok()) return tmp.status();                    \
  lhs = std::move(*tmp)

#endif  // OVLBOX_OVERLAY_SYS_RESULT_H_
