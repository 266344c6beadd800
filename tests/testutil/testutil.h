// Helpers for tests: free ports, child processes, a tiny HTTP client, a
// Prometheus text parser, and launchers for the real mosquitto/prometheus.
#ifndef PROPMON_TESTS_TESTUTIL_TESTUTIL_H_
#define PROPMON_TESTS_TESTUTIL_TESTUTIL_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace propmon::testutil {

// Returns a TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

// Waits until pred() is true or the timeout passes. Returns pred()'s last
// value.
bool WaitUntil(const std::function<bool()>& pred,
               std::chrono::milliseconds timeout,
               std::chrono::milliseconds step = std::chrono::milliseconds(50));

// A temporary directory removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  // Writes `content` to path()/name and returns the full path.
  std::string Write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

std::string ReadFileOrEmpty(const std::string& path);

// A child process started with fork/exec; killed (SIGKILL) and reaped on
// destruction if still running. stdout/stderr go to `log_path` if given.
class Subprocess {
 public:
  Subprocess() = default;
  ~Subprocess();  // SIGKILLs the process group Start() made, if running.
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Returns false if fork/exec fails (exec failure is reported by exit 127).
  bool Start(const std::vector<std::string>& argv,
             const std::string& log_path = "",
             const std::vector<std::string>& extra_env = {});
  pid_t pid() const { return pid_; }
  bool running();
  void Signal(int sig);
  // Waits up to `timeout` for exit; returns the raw wait status or nullopt.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // SIGTERM, wait up to 5 s, then SIGKILL.
  void Stop();

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

struct HttpResult {
  int status = 0;                              // 0 when the connection failed.
  std::map<std::string, std::string> headers;  // Lower-cased names.
  std::string body;
};
HttpResult Http(int port, const std::string& method, const std::string& path,
                const std::string& body = "",
                const std::vector<std::string>& headers = {});
inline HttpResult HttpGet(int port, const std::string& path) {
  return Http(port, "GET", path);
}
// Sends `raw` bytes as-is and returns what came back (for hostile requests).
std::string RawRequest(int port, const std::string& raw);

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};
// Parses the Prometheus text format (comments skipped).
std::vector<Sample> ParseProm(const std::string& text);
// Returns the first sample named `name` whose labels include `subset`.
std::optional<double> FindSample(
    const std::vector<Sample>& samples, const std::string& name,
    const std::map<std::string, std::string>& subset = {});
std::vector<Sample> FindSamples(
    const std::vector<Sample>& samples, const std::string& name,
    const std::map<std::string, std::string>& subset = {});

// Runs `promtool check metrics` on `text`; returns its exit code (0: valid
// and lint-clean, 3: valid with lint complaints, 1: not valid exposition
// text, -1: promtool did not run) and sets *report to what it printed.
int PromtoolCheckMetrics(const std::string& text, std::string* report);

// Returns the path of the propmon binaries built alongside the tests.
std::string ExporterBinary();
std::string BridgeBinary();
std::string TestHelperBinary();  // tests/testutil/workload (burn/alloc/...)
std::string SourceDir();         // Repository root.

// Starts the Debian mosquitto broker on 127.0.0.1:port with extra config
// lines; waits until it accepts connections.
bool StartMosquitto(Subprocess* proc, int port, const TempDir& dir,
                    const std::string& extra_conf = "");

// Returns true if a TCP connection to 127.0.0.1:port succeeds.
bool PortOpen(int port);

}  // namespace propmon::testutil

#endif  // PROPMON_TESTS_TESTUTIL_TESTUTIL_H_
