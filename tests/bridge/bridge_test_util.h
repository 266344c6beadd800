// Helpers shared by the bridge tests: fixtures, a streaming (SSE) HTTP
// client, and a mosquitto_pub wrapper. Header-only because tests/CMakeLists
// builds only *_test.cc files.
#ifndef PROPMON_TESTS_BRIDGE_BRIDGE_TEST_UTIL_H_
#define PROPMON_TESTS_BRIDGE_BRIDGE_TEST_UTIL_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/testutil/testutil.h"

namespace propmon::bridge::testing {

inline std::string FixturesDir() {
  const char* dir = std::getenv("PROPMON_FIXTURES");
  return dir ? std::string(dir) : testutil::SourceDir() + "/tests/fixtures";
}

inline std::string BridgeFixture(const std::string& name) {
  return testutil::ReadFileOrEmpty(FixturesDir() + "/bridge/" + name);
}

// Non-comment, non-empty lines of a fixture file.
inline std::vector<std::string> FixtureLines(const std::string& name) {
  std::vector<std::string> out;
  std::istringstream in(BridgeFixture(name));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    out.push_back(line);
  }
  return out;
}

// Replaces \xNN with the byte NN; every other character is kept.
inline std::string DecodeHexEscapes(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x' &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 3]))) {
      out.push_back(
          static_cast<char>(std::stoi(s.substr(i + 2, 2), nullptr, 16)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// The full topic for a kind shorthand, or the argument itself.
inline std::string TopicFor(const std::string& kind,
                            const std::string& domain = "dom",
                            const std::string& channel = "chan") {
  std::string prefix = "m/" + domain + "/c/" + channel + "/";
  if (kind == "task") return prefix + "control/proplet/task_metrics";
  if (kind == "legacy") return prefix + "metrics/proplet";
  if (kind == "proplet") return prefix + "control/proplet/metrics";
  if (kind == "alive") return prefix + "control/proplet/alive";
  if (kind == "create") return prefix + "control/proplet/create";
  if (kind == "results") return prefix + "control/proplet/results";
  return DecodeHexEscapes(kind);
}

// A minimal streaming HTTP client for Server-Sent Events.
class SseClient {
 public:
  ~SseClient() {
    if (fd_ >= 0) close(fd_);
  }
  bool Connect(int port, const std::string& path) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return false;
    }
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                      "Accept: text/event-stream\r\n\r\n";
    return send(fd_, req.data(), req.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(req.size());
  }
  // Reads until `marker` appears in everything received so far, or the
  // timeout passes. Returns true if found.
  bool ReadUntil(const std::string& marker, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (received_.find(marker) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        closed_ = true;
        return received_.find(marker) != std::string::npos;
      }
      received_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  const std::string& received() const { return received_; }
  // True once the server closed the connection.
  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  bool closed_ = false;
  std::string received_;
};

// Publishes each line of `lines` as one message on `topic` with
// mosquitto_pub -l (one process, one connection). Returns the exit status.
inline int MosquittoPubLines(int port, const std::string& topic,
                             const std::vector<std::string>& lines, int qos,
                             const testutil::TempDir& dir,
                             const std::string& extra_args = "") {
  static int n = 0;
  std::string file = dir.Write("pub-" + std::to_string(++n) + ".txt", [&] {
    std::string s;
    for (const auto& l : lines) s += l + "\n";
    return s;
  }());
  std::string cmd = "mosquitto_pub -h 127.0.0.1 -p " + std::to_string(port) +
                    " -q " + std::to_string(qos) + " -t '" + topic + "' " +
                    extra_args + " -l < " + file + " > " + dir.File("pub.log") +
                    " 2>&1";
  return std::system(cmd.c_str());
}

// Publishes `total` messages (lines[i % lines.size()]) on `topic` through
// one mosquitto_pub -l process, paced evenly at `per_second`. Returns the
// exit status.
inline int MosquittoPubPaced(int port, const std::string& topic,
                             const std::vector<std::string>& lines, int total,
                             int per_second, int qos,
                             const testutil::TempDir& dir) {
  std::string cmd = "mosquitto_pub -h 127.0.0.1 -p " + std::to_string(port) +
                    " -q " + std::to_string(qos) + " -t '" + topic + "' -l > " +
                    dir.File("pub-paced.log") + " 2>&1";
  FILE* f = popen(cmd.c_str(), "w");
  if (f == nullptr) return -1;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < total; ++i) {
    const std::string& l = lines[static_cast<size_t>(i) % lines.size()];
    fwrite(l.data(), 1, l.size(), f);
    fputc('\n', f);
    if (i % 10 == 9) {
      fflush(f);
      std::this_thread::sleep_until(
          start + std::chrono::microseconds(static_cast<long long>(i + 1) *
                                            1000000 / per_second));
    }
  }
  return pclose(f);
}

// Publishes one message with exactly `payload` as its body (mosquitto_pub
// -f). Returns the exit status.
inline int MosquittoPub(int port, const std::string& topic,
                        const std::string& payload,
                        const testutil::TempDir& dir, int qos = 1) {
  static int n = 0;
  std::string file = dir.Write("msg-" + std::to_string(++n) + ".bin", payload);
  std::string cmd = "mosquitto_pub -h 127.0.0.1 -p " + std::to_string(port) +
                    " -q " + std::to_string(qos) + " -t '" + topic + "' -f " +
                    file + " > " + dir.File("pub.log") + " 2>&1";
  return std::system(cmd.c_str());
}

}  // namespace propmon::bridge::testing

#endif  // PROPMON_TESTS_BRIDGE_BRIDGE_TEST_UTIL_H_
