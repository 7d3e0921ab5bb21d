#include "backends/process/shared_buffer.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace quiver::backends::process {

struct SharedBuffer::Mapping {
  void* address = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (address) ::munmap(address, size);
  }
};

namespace {

constexpr size_t kMinimumSize = 64 * 1024;

std::string errno_text() { return std::strerror(errno); }

size_t round_up_to_page(size_t bytes) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page * page;
}

}  // namespace

Result<SharedBuffer> SharedBuffer::create(const std::string& name) {
  const int fd = ::memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0) return resource_exhausted("cannot create shared memory for tensors: " + errno_text());
  return SharedBuffer(UniqueFd(fd));
}

std::byte* SharedBuffer::data() const {
  return mapping_ ? static_cast<std::byte*>(mapping_->address) : nullptr;
}

size_t SharedBuffer::mapped_size() const { return mapping_ ? mapping_->size : 0; }

std::shared_ptr<const void> SharedBuffer::keepalive() const { return mapping_; }

Status SharedBuffer::map_whole_file() {
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) return internal_error("cannot inspect shared memory: " + errno_text());
  const auto size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    mapping_.reset();
    return Status::ok();
  }
  void* address = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
  if (address == MAP_FAILED) {
    return resource_exhausted("cannot map " + std::to_string(size) + " bytes of shared memory: " + errno_text());
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->address = address;
  mapping->size = size;
  mapping_ = std::move(mapping);  // the old one lives on while tensors still view it
  return Status::ok();
}

Status SharedBuffer::ensure_writable(size_t bytes) {
  if (bytes <= mapped_size()) return Status::ok();
  const size_t target = round_up_to_page(std::max({bytes, kMinimumSize, 2 * mapped_size()}));
  if (::ftruncate(fd_.get(), static_cast<off_t>(target)) != 0) {
    return resource_exhausted("cannot grow shared memory to " + std::to_string(target) + " bytes: " + errno_text());
  }
  return map_whole_file();
}

Status SharedBuffer::ensure_readable(size_t bytes) {
  if (bytes <= mapped_size()) return Status::ok();
  QUIVER_RETURN_IF_ERROR(map_whole_file());
  if (bytes > mapped_size()) {
    return data_loss("message refers to " + std::to_string(bytes) + " bytes of shared memory but only " +
                     std::to_string(mapped_size()) + " exist");
  }
  return Status::ok();
}

}  // namespace quiver::backends::process
