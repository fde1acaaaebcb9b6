// The format's dtype table and SafetensorsFile's accessors. Opening and validating live in
// safetensors_open.cpp, writing in safetensors_save.cpp.

#include "runtime/safetensors.hpp"

#include <array>
#include <cstring>

#include "common/error.hpp"

namespace qjit {

namespace {

constexpr std::array kDTypes = {
    SafetensorsDType{"F32", 4, DType::kF32},
    SafetensorsDType{"F16", 2, DType::kF16},
    SafetensorsDType{"BF16", 2, DType::kBF16},
    SafetensorsDType{"F8_E4M3", 1, DType::kE4M3},
    SafetensorsDType{"F8_E5M2", 1, DType::kE5M2},
    SafetensorsDType{"I8", 1, DType::kI8},
    SafetensorsDType{"I32", 4, DType::kI32},
    // Recognised so that info() can list them; qjit tensors have no such dtype.
    SafetensorsDType{"F64", 8, std::nullopt},
    SafetensorsDType{"I64", 8, std::nullopt},
    SafetensorsDType{"I16", 2, std::nullopt},
    SafetensorsDType{"U64", 8, std::nullopt},
    SafetensorsDType{"U32", 4, std::nullopt},
    SafetensorsDType{"U16", 2, std::nullopt},
    SafetensorsDType{"U8", 1, std::nullopt},
    SafetensorsDType{"BOOL", 1, std::nullopt},
    SafetensorsDType{"F8_E8M0", 1, std::nullopt},
};

// How many names an error message lists before it says "... and N more".
constexpr std::size_t kListedNames = 16;

std::string list_names(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < kListedNames; ++i) {
    out += (i == 0 ? "'" : ", '") + names[i] + "'";
  }
  if (names.size() > kListedNames) out += fmt::format(" and {} more", names.size() - kListedNames);
  return out;
}

}  // namespace

std::span<const SafetensorsDType> safetensors_dtypes() { return kDTypes; }

const SafetensorsDType* find_safetensors_dtype(std::string_view name) {
  for (const SafetensorsDType& d : kDTypes) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

std::string_view safetensors_dtype_name(DType t) {
  for (const SafetensorsDType& d : kDTypes) {
    if (d.dtype == t) return d.name;
  }
  QJIT_THROW("safetensors", "dtype {} has no safetensors name", dtype_name(t));
}

std::size_t SafetensorsFile::index_of(std::string_view name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) {
    QJIT_THROW("safetensors", "{}: no tensor '{}' (the file holds {} tensors{}{})", path_.string(), name,
               names_.size(), names_.empty() ? "" : ": ", list_names(names_));
  }
  return it->second;
}

bool SafetensorsFile::has(std::string_view name) const { return index_.find(name) != index_.end(); }

const SafetensorsTensorInfo& SafetensorsFile::info(std::string_view name) const { return infos_[index_of(name)]; }

std::span<const std::byte> SafetensorsFile::bytes(std::string_view name) const {
  const SafetensorsTensorInfo& i = infos_[index_of(name)];
  // NOTE: open() proved data_begin + nbytes <= data_size_ for every tensor.
  return {data_ + i.data_begin, static_cast<std::size_t>(i.nbytes)};
}

Tensor SafetensorsFile::get(std::string_view name) const {
  const SafetensorsTensorInfo& i = infos_[index_of(name)];
  if (!i.tensor_dtype) {
    std::string supported;
    for (const SafetensorsDType& d : kDTypes) {
      if (d.dtype) supported += (supported.empty() ? "" : " ") + std::string(d.name);
    }
    QJIT_THROW("safetensors", "{}: tensor '{}' has dtype {}, which qjit tensors do not support (supported: {})",
               path_.string(), name, i.dtype, supported);
  }
  Tensor t;
  try {
    t = Tensor::empty(i.shape, *i.tensor_dtype);
  } catch (const Error& e) {
    // A zero-size shape like [2^62, 2^62, 0] is valid in the file but no qjit Tensor.
    QJIT_THROW("safetensors", "{}: tensor '{}': {}", path_.string(), name, e.message());
  }
  if (i.nbytes > 0) std::memcpy(t.raw_data_ptr(), data_ + i.data_begin, static_cast<std::size_t>(i.nbytes));
  return t;
}

Tensor SafetensorsFile::get_single() const {
  if (names_.size() != 1) {
    QJIT_THROW("safetensors", "{}: expected exactly one tensor, found {}{}{}", path_.string(), names_.size(),
               names_.empty() ? "" : ": ", list_names(names_));
  }
  return get(names_.front());
}

}  // namespace qjit
