#pragma once
// Warnings the cache gives once per process: a cache that cannot write, or a corrupt or
// untrusted entry, is worth one line, not one line per kernel.

#include <string>

namespace qjit::cache {

// True the first time `token` is seen in this process (e.g. "corrupt:<key>"). Thread-safe.
bool first_report(const std::string& token);

// Forgets every token, so each test can count its own warnings.
void reset_reports_for_testing();

}  // namespace qjit::cache
