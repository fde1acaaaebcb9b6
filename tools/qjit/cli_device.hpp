#pragma once
// The --device flag every subcommand that runs something takes: "cpu", "sim", "sim:sm_XX"
// (the sim modelling that arch), "cuda", "cuda:N" or "auto".

#include <string>

#include "runtime/device.hpp"

namespace qjit::cli {

/// The device `text` names; an empty `text` (no --device given) takes QJIT_DEVICE, else
/// cpu: a flag wins over the environment. Throws qjit::Error (subsystem `sub`) naming
/// --device or QJIT_DEVICE for an unknown name, and for cuda when no GPU answers (with the
/// driver's reason) unless !require_available (the name is all that is checked).
Device parse_device_flag(const std::string& text, const char* sub, bool require_available = true);

}  // namespace qjit::cli
