// qjit: one executable with subcommands (DESIGN.md section 7).

#include <cstdio>
#include <exception>

#include "commands.hpp"
#include "common/error.hpp"
#include "common/knobs.hpp"

int main(int argc, char** argv) {
  CLI::App app{"qjit: runtime kernel generator for quantized diffusion transformers"};
  app.require_subcommand(1);
  // Every QJIT_* knob is checked once the command line parsed, before any subcommand works.
  app.parse_complete_callback([] { qjit::knobs::check_all(); });
  qjit::cli::add_run(app);
  qjit::cli::add_cache(app);
  qjit::cli::add_linear(app);
  qjit::cli::add_rules(app);
  qjit::cli::add_calibrate(app);
  qjit::cli::add_autotune(app);
  qjit::cli::add_bench(app);
  qjit::cli::add_compile(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const qjit::Error& e) {
    std::fprintf(stderr, "qjit: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qjit: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
