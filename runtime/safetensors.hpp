#pragma once
// Safetensors I/O in the Hugging Face format: an 8-byte little-endian header length N, N bytes
// of JSON header (tensor name -> {"dtype", "shape", "data_offsets"}, plus an optional
// "__metadata__" string map), then the row-major little-endian tensor bytes.
//
// Reading memory-maps the file (read-only) and validates the whole header before anything is
// handed out, so a malformed file is a qjit::Error (subsystem "safetensors") naming the file,
// the tensor and the problem, never a crash or an out-of-bounds read. Writing is atomic: a
// temporary file in the destination directory renamed over the destination.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/dtype.hpp"
#include "runtime/tensor.hpp"

namespace qjit {

/// The largest header accepted, as the reference implementation (protects against a
/// corrupt length field asking for gigabytes of JSON).
inline constexpr std::uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;
/// Bytes of the little-endian header length that starts the file.
inline constexpr std::uint64_t kSafetensorsLengthBytes = 8;
/// The header key of the free-form string map; no tensor may have this name.
inline constexpr std::string_view kSafetensorsMetadataKey = "__metadata__";

/// An element type the format names.
struct SafetensorsDType {
  std::string_view name;       // "F32", "BF16", "I64" ...
  std::uint64_t size;          // bytes per element
  std::optional<DType> dtype;  // qjit's dtype; nullopt where qjit tensors have none
};

/// Every dtype the reader recognises: qjit's seven plus U8, U16, U32, U64, I16, I64, F64,
/// BOOL and F8_E8M0 (listed by info(), refused by get()). Sub-byte types (F4, F6) are not.
std::span<const SafetensorsDType> safetensors_dtypes();
/// The entry named `name` (case-sensitive, as the format is), or null.
const SafetensorsDType* find_safetensors_dtype(std::string_view name);
/// The format's name of a qjit dtype: "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "I8", "I32".
std::string_view safetensors_dtype_name(DType t);

/// One tensor's entry in a safetensors header, validated.
struct SafetensorsTensorInfo {
  std::string dtype;                  // the file's dtype name: "F32", "BF16", "I64" ...
  std::optional<DType> tensor_dtype;  // nullopt for dtypes qjit tensors lack (U8, I16, I64, F64, BOOL ...)
  std::vector<std::int64_t> shape;    // [] for a scalar
  std::uint64_t nbytes = 0;           // numel * element size
  std::uint64_t data_begin = 0;       // first byte, relative to the data buffer after the header
};

/// A safetensors file opened for reading.
///
/// The file is memory-mapped read-only (or read into memory where mmap fails); only the
/// pages of the tensors actually read are touched. get() copies a tensor's bytes into a
/// fresh cpu Tensor, so tensors outlive the SafetensorsFile and never alias the mapping.
/// Copies of a SafetensorsFile share the mapping; const methods are thread-safe.
///
/// NOTE: like every mmap reader, a file truncated by another process while mapped makes
/// the next read of a vanished page raise SIGBUS; files are meant to be immutable.
class SafetensorsFile {
 public:
  enum class Access {
    kMap,   // mmap, falling back to kRead where mmap fails
    kRead,  // read the whole file into memory
  };

  /// Opens and validates `path`; throws qjit::Error (subsystem "safetensors") when the file
  /// cannot be read or is malformed in any way.
  static SafetensorsFile open(const std::filesystem::path& path, Access access = Access::kMap);

  const std::filesystem::path& path() const { return path_; }
  /// Tensor names in header order (the reference writer orders the header by data offset).
  const std::vector<std::string>& names() const { return names_; }
  std::size_t size() const { return names_.size(); }
  bool has(std::string_view name) const;
  /// Throws naming the file and the missing tensor.
  const SafetensorsTensorInfo& info(std::string_view name) const;
  /// The "__metadata__" map (empty when the file has none).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  /// A contiguous cpu tensor holding a copy of `name`; throws for a missing tensor or a
  /// dtype qjit tensors do not support (naming both).
  Tensor get(std::string_view name) const;
  /// The only tensor of a file holding exactly one, whatever its name; otherwise throws,
  /// naming the file and listing the names it holds.
  Tensor get_single() const;
  /// The raw little-endian bytes of `name` (any dtype, supported or not), valid while this
  /// file or a copy of it lives.
  std::span<const std::byte> bytes(std::string_view name) const;
  /// Whether the file is memory-mapped (false: it was read into memory).
  bool memory_mapped() const { return mapped_; }

 private:
  class Contents;  // the file's bytes: a read-only mapping or a heap copy

  SafetensorsFile() = default;
  std::size_t index_of(std::string_view name) const;

  std::filesystem::path path_;
  std::shared_ptr<const Contents> contents_;  // owns the memory data_ points into
  const std::byte* data_ = nullptr;           // the data buffer, right after the header
  std::uint64_t data_size_ = 0;
  bool mapped_ = false;
  std::vector<std::string> names_;
  std::vector<SafetensorsTensorInfo> infos_;           // parallel to names_
  std::map<std::string, std::size_t, std::less<>> index_;  // name -> position in names_
  std::map<std::string, std::string> metadata_;
};

/// Writes `tensors` (in the order given, data offsets increasing) and `metadata` to `path`
/// in the safetensors format. Each tensor is moved to the cpu and made contiguous first,
/// one at a time. The header is padded with spaces to a multiple of 8 bytes, as the
/// reference implementation does, so the data starts 8-byte aligned.
///
/// NOTE: atomic: the bytes go to a temporary file in the same directory, which is fsynced
/// and renamed over `path`; readers see the old file or the new one, never a partial one.
/// Throws (subsystem "safetensors") for duplicate or reserved names, undefined tensors, a
/// missing directory or any write error, leaving no temporary file behind.
void save_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace qjit
