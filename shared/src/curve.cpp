// See curve.hpp.
#include "zpipe/curve.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "zpipe/exit_codes.hpp"
#include "zpipe/log.hpp"

namespace zpipe {
namespace {

constexpr std::size_t z85_key_length = 40;
// ZMQ_ZAP_ENFORCE_DOMAIN is a draft option in libzmq 4.3's header, but the
// library honours it: without a ZAP handler, every client is refused.
using zap_enforce_domain = zmq::sockopt::integral_option<93, int>;
constexpr const char* zap_domain = "zpipe";

// The first line of a key file, without surrounding blanks.
std::string read_key_line(const std::string& path, const std::string& option, const std::string& what) {
  std::ifstream file(path);
  if (!file) throw usage_error("--" + option + " " + path + ": cannot read the " + what + ": " + std::strerror(errno));
  std::string line;
  std::getline(file, line);
  const auto first = line.find_first_not_of(" \t\r");
  const auto last = line.find_last_not_of(" \t\r");
  return first == std::string::npos ? std::string() : line.substr(first, last - first + 1);
}

void write_file_once(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) throw std::runtime_error("cannot create " + path + ": " + std::strerror(errno));
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::fchmod(fd, mode);  // whatever the umask
  ::close(fd);
  if (!written) throw std::runtime_error("cannot write " + path);
}

}  // namespace

CurveKeyPair generate_curve_key_pair() {
  char public_key[z85_key_length + 1] = {};
  char secret_key[z85_key_length + 1] = {};
  if (zmq_curve_keypair(public_key, secret_key) != 0)
    throw std::runtime_error("this libzmq cannot make CURVE keys (built without libsodium?)");
  return {public_key, secret_key};
}

void write_curve_key_pair(const std::string& base, const CurveKeyPair& keys) {
  for (const std::string& path : {base + ".key", base + ".pub"})
    if (::access(path.c_str(), F_OK) == 0) throw std::runtime_error(path + " exists already; remove it or choose another name");
  write_file_once(base + ".key", keys.secret_key + "\n", 0600);
  write_file_once(base + ".pub", keys.public_key + "\n", 0644);
}

std::optional<std::string> decode_z85_key(const std::string& z85) {
  if (z85.size() != z85_key_length) return std::nullopt;
  std::string binary(32, '\0');
  if (zmq_z85_decode(reinterpret_cast<std::uint8_t*>(binary.data()), z85.c_str()) == nullptr) return std::nullopt;
  return binary;
}

CurveKeyPair read_secret_key_file(const std::string& path, const std::string& option) {
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0)
    throw usage_error("--" + option + " " + path + ": " + std::strerror(errno) + "; make a key pair with zpipe-keygen");
  if ((status.st_mode & 077) != 0)
    throw usage_error("--" + option + " " + path + " is readable by others than its owner; run: chmod 600 " + path);
  const std::string secret = read_key_line(path, option, "secret key");
  if (!decode_z85_key(secret))
    throw usage_error("--" + option + " " + path + " does not hold a CURVE secret key (40 Z85 characters)");
  char public_key[z85_key_length + 1] = {};
  if (zmq_curve_public(public_key, secret.c_str()) != 0)
    throw usage_error("--" + option + " " + path + ": cannot derive the public key of this secret key");
  return {public_key, secret};
}

std::string read_public_key_file(const std::string& path, const std::string& option) {
  const std::string key = read_key_line(path, option, "public key");
  if (!decode_z85_key(key)) throw usage_error("--" + option + " " + path + " does not hold a CURVE public key (40 Z85 characters)");
  return key;
}

void make_curve_server(zmq::socket_t& socket, const CurveKeyPair& own) {
  socket.set(zmq::sockopt::curve_server, true);
  socket.set(zmq::sockopt::curve_secretkey, own.secret_key);
  socket.set(zmq::sockopt::zap_domain, zap_domain);
  socket.set(zap_enforce_domain{}, 1);
}

void make_curve_client(zmq::socket_t& socket, const CurveKeyPair& own, const std::string& server_public_key) {
  socket.set(zmq::sockopt::curve_serverkey, server_public_key);
  socket.set(zmq::sockopt::curve_publickey, own.public_key);
  socket.set(zmq::sockopt::curve_secretkey, own.secret_key);
}

bool is_loopback_endpoint(const std::string& endpoint) {
  if (endpoint.rfind("ipc://", 0) == 0 || endpoint.rfind("inproc://", 0) == 0) return true;
  if (endpoint.rfind("tcp://", 0) != 0) return false;
  const std::string host = endpoint.substr(6, endpoint.rfind(':') - 6);
  return host.rfind("127.", 0) == 0 || host == "localhost" || host == "[::1]";
}

void check_plaintext_bind(const std::string& endpoint, const CurveConfig& curve, const std::string& option) {
  if (curve.enabled()) return;
  if (curve.require)
    throw usage_error("--require-curve: --" + option + " " + endpoint +
                      " would be plaintext; give --curve-secret and the allow-lists");
  if (is_loopback_endpoint(endpoint)) return;
  log_line("WARNING: --" + option + " " + endpoint +
           " is reachable from other hosts WITHOUT encryption or authentication: anyone who can connect can "
           "take or inject work. Use --curve-secret and --allow-workers (see README, \"Security\").");
}

}  // namespace zpipe
