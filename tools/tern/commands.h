// Subcommands of the `tern` CLI. Each add_* registers its options and callback on the app; the
// callback records the process exit code (0 on success, 1 on a reported error, 2 on bad usage).
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace tern::cli {

void add_compile(CLI::App& app);
void add_run(CLI::App& app);
void add_inspect(CLI::App& app);
void add_bench(CLI::App& app);

const char* version_string();
int exit_code();
void set_exit_code(int code);
// Prints "tern <cmd>: error: <msg>" to stderr (one line) and sets exit code 1.
void report_error(const char* cmd, const std::string& message);

}  // namespace tern::cli
