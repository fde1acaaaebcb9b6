#pragma once
// How the ops hand tensors to the kernels they launch (qgemm, qgemm_weight_only, gemm): on
// the driver that runs the kernel, and K-contiguous rows at 16-byte aligned addresses.

#include <memory>

#include "runtime/driver.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

/// `t` on `driver` (device `dev`): t itself when it lives there, else a copy.
Tensor on_driver(const Tensor& t, const Device& dev, const std::shared_ptr<Driver>& driver);

/// t [rows, K] as the GEMM kernels read an operand: 16-byte chunks (cp.async, or vector
/// loads) at 16-byte aligned addresses, K-contiguous. A view that is not (row stride or
/// start off the 16-byte grid, K strided) is copied into a fresh, aligned allocation.
/// `op` and `what` name the operand in the error a misaligned fresh allocation would give.
Tensor as_kernel_operand(const Tensor& t, const char* op, const char* what);

/// A host op's result on its input's host device: the references make their results on
/// `cpu`, and a `cpu:ref` computation must stay on `cpu:ref` (a copy there), so that its next
/// op runs the reference too and its operands stay on one device.
inline Tensor on_host_device(const Tensor& t, const Device& device) { return t.device() == device ? t : t.to(device); }

}  // namespace qjit
