#pragma once
// Subcommands of the qjit command, each in its own file, registered by main.cpp.

#include <CLI/CLI.hpp>

namespace qjit::cli {

void add_run(CLI::App& app);
void add_cache(CLI::App& app);
void add_linear(CLI::App& app);
void add_rules(CLI::App& app);
void add_calibrate(CLI::App& app);
void add_autotune(CLI::App& app);
void add_bench(CLI::App& app);
void add_compile(CLI::App& app);

}  // namespace qjit::cli
