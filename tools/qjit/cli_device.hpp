#pragma once
// The --device flag every subcommand that runs something takes: "cpu", "sim", "sim:sm_XX"
// (the sim modelling that arch), "cuda", "cuda:N" or "auto"; and the --arch flag of the
// commands that compile for archs.

#include <string>
#include <vector>

#include "jit/arch.hpp"
#include "runtime/device.hpp"

namespace qjit::cli {

/// The device `text` names; an empty `text` (no --device given) takes QJIT_DEVICE, else
/// cpu: a flag wins over the environment. Throws qjit::Error (subsystem `sub`) naming
/// --device or QJIT_DEVICE for an unknown name, and for cuda when no GPU answers (with the
/// driver's reason) unless !require_available (the name is all that is checked).
Device parse_device_flag(const std::string& text, const char* sub, bool require_available = true);

/// The archs of --arch flags, each repeatable or a comma list ("sm_80,sm_90", "host"), in
/// order; empty when none was given. Throws qjit::Error (subsystem `sub`) naming the flag.
std::vector<jit::Arch> parse_arch_flags(const std::vector<std::string>& flags, const char* sub);

}  // namespace qjit::cli
