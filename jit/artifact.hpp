#pragma once
// The result of compiling a Program: PTX, cubin and metadata (lowered kernel names, ptxas
// resource usage, compile time). Stored in the cache as an entry's sections.

#include <map>
#include <string>
#include <vector>

#include "cache/disk_cache.hpp"
#include "jit/kernel_spec.hpp"

namespace qjit::jit {

struct KernelInfo {
  std::string name_expression;  // "qjit::kernels::act_quant_per_token<QjitConfig>"
  std::string lowered_name;     // the mangled entry name in PTX / cubin
  // ptxas resource usage (absent = -1: a PTX-only compile does not run ptxas)
  int registers = -1;
  int spill_stores = -1;  // bytes
  int spill_loads = -1;   // bytes
  int shared_bytes = -1;  // static shared memory
  int stack_bytes = -1;
  int barriers = -1;
};

struct Artifact {
  KernelSpec spec;
  std::string key;  // cache key (sha256 of the manifest)
  std::string ptx;
  std::string cubin;  // empty for a PTX-only compile
  std::string object;  // a host program's object file (ptx and cubin empty)
  std::vector<KernelInfo> kernels;
  double compile_ms = 0;  // NVRTC wall time (front end, NVVM, ptxas)
  std::string log;        // NVRTC / ptxas log

  const KernelInfo& kernel(const std::string& name_expression) const;  // throws naming the spec
  int max_registers() const;
  int total_spill_bytes() const;

  cache::Entry to_entry(const std::string& manifest) const;
  static Artifact from_entry(const cache::Entry& entry, const std::string& key);  // throws on bad metadata
};

// Parses ptxas -v output ("Used 40 registers", "... bytes spill stores") into `kernels`,
// matching functions by lowered name.
void parse_ptxas_usage(const std::string& log, std::vector<KernelInfo>& kernels);

}  // namespace qjit::jit
