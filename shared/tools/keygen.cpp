// zpipe-keygen NAME: writes a CURVE key pair to NAME.key (secret, mode 0600)
// and NAME.pub, for --curve-secret, --allow-workers, --allow-ventilators and the --*-key options.
#include <iostream>

#include "zpipe/curve.hpp"
#include "zpipe/exit_codes.hpp"
#include "zpipe/messages.hpp"
#include "zpipe/version.hpp"

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--version") {
    std::cout << "zpipe-keygen (zpipe) " << zpipe::version << "\nwire protocol version " << zpipe::protocol_version
              << '\n';
    return zpipe::exit_ok;
  }
  if (argc != 2 || std::string(argv[1]).empty() || argv[1][0] == '-') {
    const bool asked = argc == 2 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help");
    // Help that was asked for is a result (stdout, where help2man reads it).
    (asked ? std::cout : std::cerr) << "Usage: zpipe-keygen NAME\n"
                                       "Writes a CURVE key pair: NAME.key (the secret, readable by you only) and NAME.pub.\n"
                                       "\n"
                                       "  -h, --help     Show this help\n"
                                       "      --version  Show the version and the wire protocol's version\n";
    return asked ? zpipe::exit_ok : zpipe::exit_usage;
  }
  try {
    zpipe::write_curve_key_pair(argv[1], zpipe::generate_curve_key_pair());
    std::cout << argv[1] << ".key\n" << argv[1] << ".pub\n";
    return zpipe::exit_ok;
  } catch (const std::exception& e) {
    std::cerr << "zpipe-keygen: " << e.what() << '\n';
    return zpipe::exit_runtime;
  }
}
