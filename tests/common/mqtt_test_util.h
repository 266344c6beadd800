// Test helpers shared by the MQTT client tests (tests/common/mqtt_*_test.cc):
// a restartable mosquitto, an inbox for received messages, client factories,
// a TCP proxy that can swallow or cut traffic, and a throwaway PKI.
// Header-only on purpose: the test binary is globbed from *_test.cc.
#ifndef PROPMON_TESTS_COMMON_MQTT_TEST_UTIL_H_
#define PROPMON_TESTS_COMMON_MQTT_TEST_UTIL_H_

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/mqtt_client.h"
#include "tests/testutil/testutil.h"

namespace propmon::mqtt_test {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testutil::WaitUntil;

// A mosquitto on 127.0.0.1:port() that can be stopped and started again on
// the same port with the same configuration.
class Broker {
 public:
  explicit Broker(std::string extra_conf = "", bool persistent = false,
                  int port2 = 0)
      : port_(testutil::FreePort()), port2_(port2) {
    // As root, mosquitto drops to user "mosquitto", which cannot reach the
    // test's private temp dir (persistence, certificates, password file).
    if (geteuid() == 0) conf_ += "user root\n";
    if (persistent) {
      conf_ += "persistence true\npersistence_location " + dir_.path() + "/\n";
    }
    conf_ += extra_conf;
  }
  ~Broker() { Stop(); }

  bool Start() {
    proc_ = std::make_unique<testutil::Subprocess>();
    return testutil::StartMosquitto(proc_.get(), port_, dir_, conf_);
  }
  // SIGTERM and wait: mosquitto saves its database on the way out.
  void Stop() {
    if (proc_) proc_->Stop();
  }
  int port() const { return port_; }
  int port2() const { return port2_; }  // An extra listener, if configured.
  std::string Url(const char* scheme = "tcp") const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port_);
  }
  const testutil::TempDir& dir() const { return dir_; }
  std::string Log() const {
    return testutil::ReadFileOrEmpty(
        dir_.File("mosquitto-" + std::to_string(port_) + ".log"));
  }

 private:
  testutil::TempDir dir_;
  int port_;
  int port2_;
  std::string conf_;
  std::unique_ptr<testutil::Subprocess> proc_;
};

// Collects what a subscription receives. Thread-safe.
class Inbox {
 public:
  MqttClient::MessageHandler Handler() {
    return [this](std::string_view topic, std::string_view payload) {
      std::lock_guard lk(mu_);
      topics_.emplace_back(topic);
      payloads_.emplace_back(payload);
    };
  }
  size_t size() const {
    std::lock_guard lk(mu_);
    return payloads_.size();
  }
  bool WaitFor(size_t n, seconds timeout = seconds(20)) const {
    return WaitUntil([&] { return size() >= n; }, timeout);
  }
  std::vector<std::string> payloads() const {
    std::lock_guard lk(mu_);
    return payloads_;
  }
  std::vector<std::string> topics() const {
    std::lock_guard lk(mu_);
    return topics_;
  }
  // Payloads "seq=N" as numbers (-1 for anything else).
  std::vector<int> Seqs() const {
    std::vector<int> out;
    for (const std::string& p : payloads()) {
      int v = -1;
      if (p.rfind("seq=", 0) == 0) {
        std::from_chars(p.data() + 4, p.data() + p.size(), v);
      }
      out.push_back(v);
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> topics_;
  std::vector<std::string> payloads_;
};

inline std::string Seq(int i) { return "seq=" + std::to_string(i); }

inline std::string Join(const std::vector<int>& v) {
  std::string out;
  for (int i : v) out += std::to_string(i) + " ";
  return out;
}

inline std::vector<int> Range(int from, int to) {  // [from, to)
  std::vector<int> v;
  for (int i = from; i < to; ++i) v.push_back(i);
  return v;
}

inline std::string UniqueId(const std::string& base) {
  return base + "-" + std::to_string(getpid()) + "-" +
         std::to_string(testutil::FreePort());
}

inline MqttOptions Options(const std::string& url, const std::string& id) {
  MqttOptions o;
  o.url = url;
  o.client_id = UniqueId(id);
  o.reconnect_min_seconds = 0.1;
  o.reconnect_max_seconds = 0.5;
  return o;
}

inline std::unique_ptr<MqttClient> MustCreate(const MqttOptions& o) {
  auto c = MqttClient::Create(o);
  EXPECT_TRUE(c.ok()) << c.status().message();
  if (!c.ok()) return nullptr;
  return std::move(c).value();
}

// Creates, subscribes and starts a client; waits until the broker
// acknowledged the subscription.
inline std::unique_ptr<MqttClient> Subscriber(
    const MqttOptions& o, const std::vector<std::string>& filters, int qos,
    Inbox* inbox) {
  auto c = MustCreate(o);
  if (!c) return nullptr;
  EXPECT_TRUE(c->Subscribe(filters, qos, inbox->Handler()).ok());
  EXPECT_TRUE(c->Start().ok());
  EXPECT_TRUE(WaitUntil([&] { return c->stats().subscribed; }, seconds(10)))
      << c->stats().last_error;
  return c;
}

inline std::unique_ptr<MqttClient> Connected(const MqttOptions& o) {
  auto c = MustCreate(o);
  if (!c) return nullptr;
  EXPECT_TRUE(c->Start().ok());
  EXPECT_TRUE(WaitUntil([&] { return c->stats().connected; }, seconds(10)))
      << c->stats().last_error;
  return c;
}

// Note on runtime: Paho C polls its sockets with a 1 s timeout, so every
// client after the first one in a process needs about 2 s to connect. Tests
// let one client publish to its own subscription where the scenario allows.

// In-flight messages at a disconnect, made deterministic with a TCP proxy
// between publisher and broker: while "swallowing", the proxy reads what the
// publisher sends and throws it away, so QoS 1 messages are written to the
// socket (in flight in Paho) but never reach the broker and are never
// acknowledged; then the proxy cuts the connection.

class TcpProxy {
 public:
  explicit TcpProxy(int upstream_port) : upstream_port_(upstream_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(listen_fd_, 16);
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~TcpProxy() {
    stop_ = true;
    thread_.join();
    for (const Pair& p : pairs_) {
      close(p.client);
      close(p.server);
    }
    close(listen_fd_);
  }
  int port() const { return port_; }
  // New connections are accepted and closed at once.
  void SetRefusing(bool on) { refusing_ = on; }
  // Client bytes are read and discarded (kept for inspection), nothing is
  // forwarded either way.
  void SetSwallowing(bool on) { swallowing_ = on; }
  std::string Swallowed() {
    std::lock_guard lk(mu_);
    return swallowed_;
  }
  // Each connection is closed 100 ms after the broker's first bytes (the
  // CONNACK) reach the client, and nothing the client sends after its
  // CONNECT is forwarded: the client sees a session that starts and ends
  // before anything it sends again is acknowledged.
  void SetCutAfterConnack(bool on) { cut_after_connack_ = on; }
  // The connect flags byte of every CONNECT seen (bit 1: clean session).
  std::vector<int> ConnectFlags() {
    std::lock_guard lk(mu_);
    return connect_flags_;
  }
  // Closes every open connection; returns once done.
  void CutAll() {
    const int target = ++cut_requested_;
    while (cut_done_ < target) std::this_thread::sleep_for(milliseconds(5));
  }

 private:
  struct Pair {
    int client;
    int server;
    double cut_at = 0;  // SetCutAfterConnack: when to close; 0 = not set
  };

  static double NowSeconds() {
    return std::chrono::duration<double>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  static int ConnectTo(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }

  static bool WriteAll(int fd, const char* data, size_t n) {
    while (n > 0) {
      ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      data += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }

  void Loop() {
    char buf[65536];
    while (!stop_) {
      if (cut_done_ < cut_requested_) {
        const int target = cut_requested_;
        for (const Pair& p : pairs_) {
          close(p.client);
          close(p.server);
        }
        pairs_.clear();
        cut_done_ = target;
      }
      for (size_t pi = pairs_.size(); pi-- > 0;) {
        if (pairs_[pi].cut_at > 0 && NowSeconds() >= pairs_[pi].cut_at) {
          close(pairs_[pi].client);
          close(pairs_[pi].server);
          pairs_.erase(pairs_.begin() + static_cast<long>(pi));
        }
      }
      std::vector<pollfd> fds;
      fds.push_back({listen_fd_, POLLIN, 0});
      for (const Pair& p : pairs_) {
        fds.push_back({p.client, POLLIN, 0});
        fds.push_back({p.server, POLLIN, 0});
      }
      if (poll(fds.data(), fds.size(), 10) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        int c = accept(listen_fd_, nullptr, nullptr);
        if (c >= 0) {
          int s = refusing_ ? -1 : ConnectTo(upstream_port_);
          if (s < 0) {
            close(c);
          } else {
            pairs_.push_back({c, s, 0});
          }
        }
      }
      std::vector<size_t> dead;
      for (size_t i = 0; i + 1 < fds.size(); i += 2) {
        const size_t pi = i / 2;
        for (int side = 0; side < 2; ++side) {
          const pollfd& pf = fds[1 + i + side];
          if (!(pf.revents & (POLLIN | POLLHUP | POLLERR))) continue;
          ssize_t r = recv(pf.fd, buf, sizeof(buf), 0);
          if (r <= 0) {
            dead.push_back(pi);
            break;
          }
          if (side == 0 && static_cast<unsigned char>(buf[0]) == 0x10 &&
              r > 2) {
            // CONNECT: fixed header, remaining length (varint), "MQTT"
            // (2 + 4 bytes), level, then the flags.
            size_t at = 1;
            while (at < static_cast<size_t>(r) && (buf[at] & 0x80)) ++at;
            at += 1 + 6 + 1;
            if (at < static_cast<size_t>(r)) {
              std::lock_guard lk(mu_);
              connect_flags_.push_back(static_cast<unsigned char>(buf[at]));
            }
          }
          if (swallowing_) {
            if (side == 0) {
              std::lock_guard lk(mu_);
              swallowed_.append(buf, static_cast<size_t>(r));
            }
            continue;
          }
          const int to = side == 0 ? pairs_[pi].server : pairs_[pi].client;
          if (cut_after_connack_ && side == 0 && pairs_[pi].cut_at > 0) {
            continue;  // after the CONNECT: nothing reaches the broker
          }
          if (!WriteAll(to, buf, static_cast<size_t>(r))) {
            dead.push_back(pi);
            break;
          }
          if (cut_after_connack_ && side == 1 && pairs_[pi].cut_at == 0) {
            pairs_[pi].cut_at = NowSeconds() + 0.1;
          }
        }
      }
      std::sort(dead.begin(), dead.end());
      dead.erase(std::unique(dead.begin(), dead.end()), dead.end());
      for (auto it = dead.rbegin(); it != dead.rend(); ++it) {
        close(pairs_[*it].client);
        close(pairs_[*it].server);
        pairs_.erase(pairs_.begin() + static_cast<long>(*it));
      }
    }
  }

  int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> cut_after_connack_{false};
  std::vector<int> connect_flags_;
  std::atomic<bool> refusing_{false};
  std::atomic<bool> swallowing_{false};
  std::atomic<int> cut_requested_{0};
  std::atomic<int> cut_done_{0};
  std::vector<Pair> pairs_;  // Loop thread only.
  std::mutex mu_;
  std::string swallowed_;
  std::thread thread_;
};

// ---------------------------------------------------------------------------

// A CA, a server certificate for 127.0.0.1/localhost and a client
// certificate, made with openssl; plus an unrelated CA.
struct Pki {
  explicit Pki(const testutil::TempDir& dir) : d(dir.path() + "/") {
    const std::string ec =
        " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
    dir.Write("server.ext",
              "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
              "extendedKeyUsage=serverAuth\n");
    dir.Write("client.ext", "extendedKeyUsage=clientAuth\n");
    dir.Write("elsewhere.ext", "subjectAltName=DNS:elsewhere.example\n");
    const std::string q = " >/dev/null 2>&1";
    ok = Run("openssl req -x509" + ec + "-keyout " + d + "ca.key -out " + d +
             "ca.crt -days 2 -subj /CN=propmon-test-ca" + q) &&
         Run("openssl req -x509" + ec + "-keyout " + d + "other.key -out " + d +
             "other.crt -days 2 -subj /CN=some-other-ca" + q) &&
         Run("openssl req" + ec + "-keyout " + d + "server.key -out " + d +
             "server.csr -subj /CN=localhost" + q) &&
         Run("openssl x509 -req -in " + d + "server.csr -CA " + d +
             "ca.crt -CAkey " + d + "ca.key -CAcreateserial -days 2 -out " + d +
             "server.crt -extfile " + d + "server.ext" + q) &&
         Run("openssl req" + ec + "-keyout " + d + "elsewhere.key -out " + d +
             "elsewhere.csr -subj /CN=elsewhere.example" + q) &&
         Run("openssl x509 -req -in " + d + "elsewhere.csr -CA " + d +
             "ca.crt -CAkey " + d + "ca.key -CAcreateserial -days 2 -out " + d +
             "elsewhere.crt -extfile " + d + "elsewhere.ext" + q) &&
         Run("openssl req" + ec + "-keyout " + d + "client.key -out " + d +
             "client.csr -subj /CN=propmon-client" + q) &&
         Run("openssl x509 -req -in " + d + "client.csr -CA " + d +
             "ca.crt -CAkey " + d + "ca.key -CAcreateserial -days 2 -out " + d +
             "client.crt -extfile " + d + "client.ext" + q);
  }
  static bool Run(const std::string& cmd) {
    return std::system(cmd.c_str()) == 0;
  }
  std::string Listener(bool require_cert) const {
    return "cafile " + d + "ca.crt\ncertfile " + d + "server.crt\nkeyfile " +
           d + "server.key\n" +
           (require_cert ? "require_certificate true\n" : "");
  }
  // A second TLS listener whose certificate names elsewhere.example only.
  std::string WrongHostListener(int port) const {
    return "listener " + std::to_string(port) + " 127.0.0.1\ncafile " + d +
           "ca.crt\ncertfile " + d + "elsewhere.crt\nkeyfile " + d +
           "elsewhere.key\n";
  }
  std::string d;
  bool ok = false;
};

}  // namespace propmon::mqtt_test

#endif  // PROPMON_TESTS_COMMON_MQTT_TEST_UTIL_H_
