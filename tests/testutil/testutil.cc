#include "tests/testutil/testutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#ifndef PROPMON_BINARY_DIR
#error "PROPMON_BINARY_DIR must be defined"
#endif

namespace propmon::testutil {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

bool WaitUntil(const std::function<bool()>& pred,
               std::chrono::milliseconds timeout,
               std::chrono::milliseconds step) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(step);
  }
  return pred();
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/propmon-test-XXXXXX";
  char* p = mkdtemp(tmpl);
  path_ = p ? p : "/tmp";
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Write(const std::string& name,
                           const std::string& content) const {
  std::string p = File(name);
  std::filesystem::create_directories(std::filesystem::path(p).parent_path());
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && !status_) {
    // The whole process group (Start() makes one): a shell's background
    // children would otherwise outlive the test and hold ctest's output pipe
    // open until they exit (a `sleep 60 & wait` kept a test for 60 s).
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    int st;
    waitpid(pid_, &st, 0);
  }
}

bool Subprocess::Start(const std::vector<std::string>& argv,
                       const std::string& log_path,
                       const std::vector<std::string>& extra_env) {
  status_.reset();
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    setpgid(0, 0);
    if (!log_path.empty()) {
      int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
      }
    }
    for (const auto& e : extra_env) putenv(strdup(e.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  pid_ = pid;
  return true;
}

bool Subprocess::running() {
  if (pid_ <= 0 || status_) return false;
  int st;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = st;
    return false;
  }
  return true;
}

void Subprocess::Signal(int sig) {
  if (running()) kill(pid_, sig);
}

std::optional<int> Subprocess::Wait(std::chrono::milliseconds timeout) {
  WaitUntil([&] { return !running(); }, timeout, std::chrono::milliseconds(10));
  return status_;
}

void Subprocess::Stop() {
  if (!running()) return;
  kill(pid_, SIGTERM);
  if (!Wait(std::chrono::seconds(5))) {
    kill(pid_, SIGKILL);
    Wait(std::chrono::seconds(5));
  }
}

namespace {
int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends `raw` and reads until the server closes. With `half_close`, our
// side is shut down for writing after the request (for hostile raw
// requests); plain HTTP requests do not, because Go servers (Prometheus)
// cancel a request whose client half-closed.
std::string SendAndRead(int fd, const std::string& raw, bool half_close) {
  size_t off = 0;
  while (off < raw.size()) {
    ssize_t w = send(fd, raw.data() + off, raw.size() - off, MSG_NOSIGNAL);
    if (w <= 0) break;
    off += static_cast<size_t>(w);
  }
  if (half_close) shutdown(fd, SHUT_WR);
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t r = recv(fd, buf, sizeof(buf), 0);
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  close(fd);
  return out;
}
}  // namespace

bool PortOpen(int port) {
  int fd = Connect(port);
  if (fd < 0) return false;
  close(fd);
  return true;
}

std::string RawRequest(int port, const std::string& raw) {
  int fd = Connect(port);
  if (fd < 0) return "";
  return SendAndRead(fd, raw, true);
}

HttpResult Http(int port, const std::string& method, const std::string& path,
                const std::string& body,
                const std::vector<std::string>& headers) {
  HttpResult result;
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                    "Connection: close\r\n";
  for (const auto& h : headers) req += h + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  int fd = Connect(port);
  if (fd < 0) return result;
  std::string resp = SendAndRead(fd, req, false);
  size_t hdr_end = resp.find("\r\n\r\n");
  if (resp.size() < 12 || hdr_end == std::string::npos) return result;
  result.status = std::atoi(resp.substr(9, 3).c_str());
  std::istringstream hs(resp.substr(0, hdr_end));
  std::string line;
  std::getline(hs, line);
  while (std::getline(hs, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t c = line.find(':');
    if (c == std::string::npos) continue;
    std::string k = line.substr(0, c);
    std::transform(k.begin(), k.end(), k.begin(), ::tolower);
    std::string v = line.substr(c + 1);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    result.headers[k] = v;
  }
  result.body = resp.substr(hdr_end + 4);
  if (result.headers["transfer-encoding"] == "chunked") {
    std::string decoded;
    size_t pos = 0;
    const std::string& b = result.body;
    while (pos < b.size()) {
      size_t eol = b.find("\r\n", pos);
      if (eol == std::string::npos) break;
      size_t n = std::strtoul(b.substr(pos, eol - pos).c_str(), nullptr, 16);
      if (n == 0) break;
      decoded += b.substr(eol + 2, n);
      pos = eol + 2 + n + 2;
    }
    result.body = decoded;
  }
  return result;
}

std::vector<Sample> ParseProm(const std::string& text) {
  std::vector<Sample> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string::npos) break;
        std::string key = line.substr(i, eq - i);
        i = eq + 2;  // skip ="
        std::string val;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\' && i + 1 < line.size()) {
            ++i;
            val += line[i] == 'n' ? '\n' : line[i];
          } else {
            val += line[i];
          }
          ++i;
        }
        ++i;  // closing quote
        if (i < line.size() && line[i] == ',') ++i;
        s.labels[key] = val;
      }
      ++i;  // '}'
    }
    while (i < line.size() && line[i] == ' ') ++i;
    size_t end = line.find(' ', i);
    std::string v = line.substr(i, end == std::string::npos ? end : end - i);
    if (v == "+Inf") {
      s.value = INFINITY;
    } else if (v == "-Inf") {
      s.value = -INFINITY;
    } else if (v == "NaN") {
      s.value = NAN;
    } else {
      s.value = std::strtod(v.c_str(), nullptr);
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<Sample> FindSamples(
    const std::vector<Sample>& samples, const std::string& name,
    const std::map<std::string, std::string>& subset) {
  std::vector<Sample> out;
  for (const auto& s : samples) {
    if (s.name != name) continue;
    bool ok = true;
    for (const auto& [k, v] : subset) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) {
        ok = false;
        break;
      }
    }
    if (ok) out.push_back(s);
  }
  return out;
}

std::optional<double> FindSample(
    const std::vector<Sample>& samples, const std::string& name,
    const std::map<std::string, std::string>& subset) {
  auto v = FindSamples(samples, name, subset);
  if (v.empty()) return std::nullopt;
  return v.front().value;
}

int PromtoolCheckMetrics(const std::string& text, std::string* report) {
  TempDir dir;
  std::string in = dir.Write("scrape.prom", text);
  std::string out = dir.File("promtool.out");
  std::string cmd =
      "promtool check metrics < '" + in + "' > '" + out + "' 2>&1";
  int rc = std::system(cmd.c_str());
  *report = ReadFileOrEmpty(out);
  if (rc == -1 || !WIFEXITED(rc)) return -1;
  return WEXITSTATUS(rc);
}

std::string ExporterBinary() {
  return std::string(PROPMON_BINARY_DIR) + "/exporter/propmon-exporter";
}
std::string BridgeBinary() {
  return std::string(PROPMON_BINARY_DIR) + "/bridge/propmon-bridge";
}
std::string TestHelperBinary() {
  return std::string(PROPMON_BINARY_DIR) + "/tests/workload";
}
std::string SourceDir() { return PROPMON_SOURCE_DIR; }

bool StartMosquitto(Subprocess* proc, int port, const TempDir& dir,
                    const std::string& extra_conf) {
  std::string conf = "listener " + std::to_string(port) + " 127.0.0.1\n" +
                     "persistence false\n" + extra_conf;
  if (extra_conf.find("allow_anonymous") == std::string::npos) {
    conf += "\nallow_anonymous true\n";
  }
  std::string conf_path =
      dir.Write("mosquitto-" + std::to_string(port) + ".conf", conf);
  if (!proc->Start({"/usr/sbin/mosquitto", "-c", conf_path},
                   dir.File("mosquitto-" + std::to_string(port) + ".log"))) {
    return false;
  }
  return WaitUntil([&] { return PortOpen(port); }, std::chrono::seconds(10));
}

}  // namespace propmon::testutil
