#include "runtime/storage.hpp"

#include <new>

#include "common/error.hpp"
#include "common/memory.hpp"
#include "common/log.hpp"
#include "runtime/host_block_cache.hpp"

namespace qjit {

std::shared_ptr<Storage> Storage::allocate(std::size_t bytes, const Device& device) {
  return allocate(bytes, device, device.is_host() ? nullptr : driver_for(device));
}

std::shared_ptr<Storage> Storage::allocate(std::size_t bytes, const Device& device,
                                           std::shared_ptr<Driver> driver) {
  // The constructor is private so a Storage only ever lives in a shared_ptr.
  return std::shared_ptr<Storage>(new Storage(bytes, device, std::move(driver)));
}

Storage::Storage(std::size_t bytes, const Device& device, std::shared_ptr<Driver> driver)
    : bytes_(bytes), device_(device), driver_(std::move(driver)) {
  if (device_.is_host()) {
    QJIT_CHECK_GEN("runtime", driver_ == nullptr, "cpu storage takes no driver (got one for {})",
                   driver_->device().str());
    const std::size_t padded = (bytes_ + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
    try {
      host_ = host_blocks::allocate(padded == 0 ? kHostAlignment : padded, kHostAlignment);
    } catch (const std::bad_alloc&) {
      QJIT_THROW("runtime", "allocating {} on the cpu failed: out of memory (the machine has {})", format_bytes(bytes_),
                 format_bytes(host_memory_bytes()));
    }
    return;
  }
  QJIT_CHECK_GEN("runtime", driver_ != nullptr, "storage on {} needs a driver", device_.str());
  QJIT_CHECK_GEN("runtime", driver_->device() == device_, "storage on {} was given the driver of {}",
                 device_.str(), driver_->device().str());
  if (bytes_ > 0) dev_ = driver_->allocator().allocate(bytes_);
}

Storage::~Storage() {
  if (host_ != nullptr) {
    const std::size_t padded = (bytes_ + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
    host_blocks::release(host_, padded == 0 ? kHostAlignment : padded, kHostAlignment);
    return;
  }
  if (dev_ == 0) return;
  // A destructor must not throw; a failed free leaks the block, which is only worth a message.
  try {
    driver_->allocator().release(dev_);
  } catch (const std::exception& e) {
    log(LogLevel::kError, "freeing {} bytes on {} failed: {}", bytes_, device_.str(), e.what());
  }
}

void* Storage::host_ptr() const {
  QJIT_CHECK_GEN("runtime", device_.is_host(), "storage of {} bytes is on {}, not on the cpu", bytes_,
                 device_.str());
  return host_;
}

DevicePtr Storage::device_ptr() const {
  QJIT_CHECK_GEN("runtime", !device_.is_host(), "storage of {} bytes is on the cpu, it has no device pointer",
                 bytes_);
  return dev_;
}

}  // namespace qjit
