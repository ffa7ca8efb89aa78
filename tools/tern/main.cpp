// `tern`: the command-line front end. One binary, one subcommand per job; `tern CMD --help`
// explains each.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "Tern: compile ONNX models to plans and run them on edge devices.\n"
      "  tern compile model.onnx -o model.tern [--input-shape x=1x3x224x224]\n"
      "  tern run model.tern -i input.npy -o output.npy\n"
      "  tern inspect model.tern\n"
      "  tern bench model.tern --threads 2\n"
      "  tern quantize model.onnx --calib calib.npy -o model-int8.tern"};
  app.require_subcommand(1);
  app.set_version_flag("--version", tern::cli::version_string());
  tern::cli::add_compile(app);
  tern::cli::add_run(app);
  tern::cli::add_inspect(app);
  tern::cli::add_bench(app);
  tern::cli::add_quantize(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; any usage error exits 2 (reported errors exit 1).
    return app.exit(e) == 0 ? 0 : 2;
  }
  return tern::cli::exit_code();
}
