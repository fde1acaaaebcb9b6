#pragma once
// Storage: one byte buffer on one device, shared by every tensor that views it.

#include <cstddef>
#include <memory>

#include "runtime/device.hpp"
#include "runtime/driver.hpp"

namespace qjit {

class Storage {
 public:
  // NOTE: host buffers are aligned to, and padded to a multiple of, one cache line, so
  // vector loops may load whole lines past the logical end.
  static constexpr std::size_t kHostAlignment = 64;

  /// Allocates `bytes` (uninitialized) on `device`; a non-host device's memory comes from
  /// driver_for(device).
  static std::shared_ptr<Storage> allocate(std::size_t bytes, const Device& device);
  /// As above with an explicit driver (null for cpu; for other devices it must serve
  /// `device`). Lets tests put a fake driver behind a device.
  static std::shared_ptr<Storage> allocate(std::size_t bytes, const Device& device,
                                           std::shared_ptr<Driver> driver);

  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  std::size_t bytes() const { return bytes_; }
  const Device& device() const { return device_; }
  /// The driver owning the memory; null for host storage.
  const std::shared_ptr<Driver>& driver() const { return driver_; }

  /// Host address of byte 0; throws unless the storage is on the cpu.
  void* host_ptr() const;
  /// Device address of byte 0 (0 for an empty buffer); throws for host storage.
  DevicePtr device_ptr() const;

 private:
  Storage(std::size_t bytes, const Device& device, std::shared_ptr<Driver> driver);

  std::size_t bytes_ = 0;
  Device device_;
  std::shared_ptr<Driver> driver_;
  void* host_ = nullptr;
  DevicePtr dev_ = 0;
};

}  // namespace qjit
