#pragma once
// Runs the built qjit command (QJIT_CLI_PATH) for the CLI tests: its exit code, and stdout
// and stderr kept apart (through two temporary files).

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace qjit::test {

struct CliResult {
  int code = -1;
  std::string out, err;
};

/// A shell command line's exit code, stdout and stderr.
inline CliResult run_command(const std::string& command) {
  auto temp = [] {
    char name[] = "/tmp/qjit-cli-XXXXXX";
    const int fd = ::mkstemp(name);
    if (fd >= 0) ::close(fd);
    return std::string(name);
  };
  auto slurp = [](const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    std::remove(path.c_str());
    return s.str();
  };
  const std::string out = temp(), err = temp();
  const std::string cmd = command + " >'" + out + "' 2>'" + err + "'";
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

/// `qjit <args>` with `env` ("NAME='value' ...", may be empty) before the command.
inline CliResult run_qjit(const std::string& args, const std::string& env = "") {
  return run_command(env + (env.empty() ? "" : " ") + QJIT_CLI_PATH " " + args);
}

}  // namespace qjit::test
