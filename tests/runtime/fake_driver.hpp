#pragma once
// A Driver over host memory, for testing what sits above the Driver interface (Storage,
// Tensor copies) without a GPU or the sim interpreter. Every access is checked against the
// live allocations, so an out-of-bounds copy fails the test instead of corrupting memory.

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <stdexcept>
#include <vector>

#include "runtime/driver.hpp"

namespace qjit::test_support {

class FakeDriver : public Driver {
 public:
  explicit FakeDriver(Device device = Device::sim()) : device_(device) {
    props_.name = "fake " + device.str();
  }

  Device device() const override { return device_; }
  const DeviceProps& props() const override { return props_; }
  KernelCode kernel_code() const override {
    return device_.kind == DeviceKind::kSim ? KernelCode::kPtx : KernelCode::kCubin;
  }

  DevicePtr alloc(std::size_t bytes) override {
    const DevicePtr ptr = next_;
    // Leave a gap so that one block running into the next is caught.
    next_ += (bytes + 255) / 256 * 256 + 256;
    blocks_[ptr].resize(bytes);
    ++allocs_;
    return ptr;
  }
  void free(DevicePtr ptr) override {
    if (blocks_.erase(ptr) != 1) throw std::runtime_error("FakeDriver: free of an unknown pointer");
  }
  void copy_to_device(DevicePtr dst, const void* src, std::size_t bytes) override {
    ++to_device_;
    std::memcpy(at(dst, bytes), src, bytes);
  }
  void copy_to_host(void* dst, DevicePtr src, std::size_t bytes) override {
    ++to_host_;
    std::memcpy(dst, at(src, bytes), bytes);
  }
  void copy_device(DevicePtr dst, DevicePtr src, std::size_t bytes) override {
    ++device_to_device_;
    std::memmove(at(dst, bytes), at(src, bytes), bytes);
  }
  void memset8(DevicePtr dst, std::uint8_t value, std::size_t bytes) override {
    ++memsets_;
    std::memset(at(dst, bytes), value, bytes);
  }

  // Nothing runs on this device.
  ModuleHandle load_module(const ModuleImage&) override {
    throw std::runtime_error("FakeDriver: no modules");
  }
  void unload_module(ModuleHandle) override {}
  FunctionHandle get_function(ModuleHandle, const std::string&) override {
    throw std::runtime_error("FakeDriver: no functions");
  }
  int get_attribute(FunctionHandle, FuncAttr) override { return 0; }
  void set_attribute(FunctionHandle, FuncAttr, int) override {}
  void launch(FunctionHandle, const LaunchConfig&, void**) override {
    throw std::runtime_error("FakeDriver: no launches");
  }
  StreamHandle create_stream() override { return nullptr; }
  void destroy_stream(StreamHandle) override {}
  void synchronize(StreamHandle) override {}
  EventHandle create_event() override { return nullptr; }
  void destroy_event(EventHandle) override {}
  void record_event(EventHandle, StreamHandle) override {}
  void synchronize_event(EventHandle) override {}
  float elapsed_ms(EventHandle, EventHandle) override { return 0.0f; }

  std::size_t live_blocks() const { return blocks_.size(); }
  int allocs() const { return allocs_; }
  int to_device_copies() const { return to_device_; }
  int to_host_copies() const { return to_host_; }
  int device_copies() const { return device_to_device_; }
  int memsets() const { return memsets_; }

 private:
  // Host address of [ptr, ptr + bytes), which must lie inside one live block.
  std::byte* at(DevicePtr ptr, std::size_t bytes) {
    auto it = blocks_.upper_bound(ptr);
    if (it == blocks_.begin()) throw std::runtime_error("FakeDriver: access below every block");
    --it;
    const DevicePtr begin = it->first;
    if (ptr + bytes > begin + it->second.size())
      throw std::runtime_error("FakeDriver: access outside its block");
    return it->second.data() + (ptr - begin);
  }

  Device device_;
  DeviceProps props_;
  DevicePtr next_ = 0x10000;
  std::map<DevicePtr, std::vector<std::byte>> blocks_;
  int allocs_ = 0;
  int to_device_ = 0;
  int to_host_ = 0;
  int device_to_device_ = 0;
  int memsets_ = 0;
};

}  // namespace qjit::test_support
