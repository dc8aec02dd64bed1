// hush-relay: wiring only. See ARCHITECTURE.md for where everything else lives.
#include <sys/prctl.h>

#include <exception>
#include <iostream>

#include "app.hpp"

int main(int argc, char** argv) {
  // Nothing about calls is written to disk: no core dumps of this process (they would hold
  // secrets and addresses).
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  auto parsed = hush::config::parse(argc, argv);
  try {
    switch (parsed.command) {
      case hush::config::Command::credential: return hush::app::print_credential(parsed.credential);
      case hush::config::Command::import_coturn: return hush::app::import_coturn(parsed.import);
      case hush::config::Command::run:
        if (parsed.config.check_only) return hush::app::check_config(parsed.config);
        return hush::app::run(parsed.config, argc, argv);
      case hush::config::Command::exit: return parsed.exit_code;
    }
  } catch (const std::exception& e) {
    std::cerr << "hush-relay: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
