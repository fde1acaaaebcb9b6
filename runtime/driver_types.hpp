#pragma once
// The handle types of the Driver interface (runtime/driver.hpp), apart so that what the
// Driver owns (its allocator) can name them.

#include <cstdint>

namespace qjit {

using DevicePtr = std::uint64_t;
using ModuleHandle = void*;
using FunctionHandle = void*;
using StreamHandle = void*;  // nullptr = the default stream
using EventHandle = void*;

}  // namespace qjit
