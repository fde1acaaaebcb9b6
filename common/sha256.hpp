#pragma once
// SHA-256 (OpenSSL) for cache keys and entry checksums.

#include <string>
#include <string_view>

namespace qjit {

std::string sha256_hex(std::string_view data);

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256& update(std::string_view data);
  std::string hex();  // finishes the digest

 private:
  void* ctx_;
};

}  // namespace qjit
