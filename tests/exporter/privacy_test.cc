// `privacy: true`: no host name, IP address or MAC address anywhere the
// exporter reports (/metrics, the REST API, MQTT), and a proplet id that does
// not name the host. The end-to-end test runs the real propmon-exporter
// against a real mosquitto twice, with privacy on and off: off, the same
// checks must find the host name (so they can fail).
//
// The exporter runs in a UTS namespace of its own (unshare --uts, as root)
// with a host name no output could hold by chance; where that is not
// possible it runs as is and the real host name is looked for as a whole
// word.
#include <arpa/inet.h>
#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "common/payload.h"
#include "exporter/collectors/host_collectors.h"
#include "exporter/collectors/uname.h"
#include "exporter/publisher.h"
#include "exporter/sysinfo.h"
#include "tests/common/mqtt_test_util.h"
#include "tests/testutil/testutil.h"

namespace propmon::exporter {
namespace {

using nlohmann::json;
using ::testing::MatchesRegex;
using testutil::FindSample;
using testutil::FindSamples;
using testutil::Subprocess;
using testutil::TempDir;
using testutil::WaitUntil;
using namespace std::chrono_literals;

std::string Fixtures() {
  const char* f = getenv("PROPMON_FIXTURES");
  return std::string(f ? f : "tests/fixtures");
}

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

std::vector<testutil::Sample> Render(const prometheus::Collectable& c) {
  MetricsEndpoint m;
  m.Add(&c);
  return testutil::ParseProm(m.Render());
}

// ------------------------------------------------------------ unit level

TEST(PrivacyUnameTest, NodenameAndDomainnameAreEmpty) {
  HostPaths p;
  p.procfs = Fixtures() + "/proc";
  UnameCollector open(p), priv(p, /*privacy=*/true);
  std::vector<prometheus::MetricFamily> f;
  ASSERT_TRUE(open.Collect(&f).ok());
  ASSERT_TRUE(priv.Collect(&f).ok());
  ASSERT_EQ(f.size(), 2u);
  auto labels = [](const prometheus::MetricFamily& fam) {
    std::map<std::string, std::string> m;
    for (const auto& l : fam.metric.at(0).label) m[l.name] = l.value;
    return m;
  };
  auto o = labels(f[0]), q = labels(f[1]);
  EXPECT_EQ(o["nodename"], "vm");  // The fixture's host name.
  EXPECT_EQ(q["nodename"], "");
  EXPECT_EQ(q["domainname"], "");
  // The other labels, and the label set, are unchanged.
  EXPECT_EQ(q.size(), o.size());
  EXPECT_EQ(q["release"], o["release"]);
  EXPECT_EQ(q["machine"], o["machine"]);
}

TEST(PrivacyUnameTest, MakeHostCollectorsPassesPrivacyOn) {
  HostCollectorOptions o;
  o.paths.procfs = Fixtures() + "/proc";
  o.privacy = true;
  auto host = MakeHostCollectors(o, {"uname"}, {});
  ASSERT_TRUE(host.ok()) << host.status().message();
  auto s = Render(**host);
  EXPECT_TRUE(FindSample(s, "node_uname_info", {{"nodename", ""}}));
  o.privacy = false;
  host = MakeHostCollectors(o, {"uname"}, {});
  ASSERT_TRUE(host.ok());
  EXPECT_TRUE(
      FindSample(Render(**host), "node_uname_info", {{"nodename", "vm"}}));
}

#ifdef PROPMON_FAKE_NVML_PATH
TEST(PrivacyGpuTest, HostnameLabelIsEmpty) {
  setenv("FAKE_NVML_GPUS", "1", 1);
  GpuCollector::Options o;
  o.library = PROPMON_FAKE_NVML_PATH;
  o.privacy = true;
  GpuCollector priv(o);
  o.privacy = false;
  GpuCollector open(o);  // Hostname from gethostname().
  std::vector<prometheus::MetricFamily> fp, fo;
  ASSERT_TRUE(priv.Collect(&fp).ok());
  ASSERT_TRUE(open.Collect(&fo).ok());
  unsetenv("FAKE_NVML_GPUS");
  std::string p = RenderFamilies(fp), q = RenderFamilies(fo);
  ASSERT_NE(p.find("DCGM_FI_DEV_GPU_UTIL{"), std::string::npos) << p;
  EXPECT_NE(p.find("Hostname=\"\""), std::string::npos) << p;
  EXPECT_NE(q.find("Hostname=\"" + Hostname() + "\""), std::string::npos) << q;
  // Through MakeHostCollectors too.
  HostCollectorOptions ho;
  ho.gpu.library = PROPMON_FAKE_NVML_PATH;
  ho.privacy = true;
  auto host = MakeHostCollectors(ho, {"gpu"}, {});
  ASSERT_TRUE(host.ok());
  setenv("FAKE_NVML_GPUS", "1", 1);
  auto s = Render(**host);
  unsetenv("FAKE_NVML_GPUS");
  EXPECT_TRUE(FindSample(s, "DCGM_FI_DEV_GPU_UTIL", {{"Hostname", ""}}));
}
#endif

TEST(AnonymousPropletIdTest, KeyedHashOfTheMachineId) {
  TempDir root;
  std::filesystem::create_directories(root.File("etc"));
  std::filesystem::create_directories(root.File("var/lib/dbus"));
  std::filesystem::create_directories(root.File("proc/sys/kernel/random"));
  const std::string procfs = root.File("proc");
  // Nothing to hash: a fixed id.
  EXPECT_EQ(AnonymousPropletId(root.path(), procfs), "proplet");
  // The boot id (changes every boot) when there is no machine id.
  root.Write("proc/sys/kernel/random/boot_id", "b00t1d-0000\n");
  EXPECT_EQ(AnonymousPropletId(root.path(), procfs), "proplet-57b43498d1be");
  // D-Bus's copy, then /etc/machine-id. SHA-256 of
  // "propmon-exporter proplet id\n" + id, first 12 hex digits.
  root.Write("var/lib/dbus/machine-id", "fedcba9876543210fedcba9876543210\n");
  EXPECT_EQ(AnonymousPropletId(root.path(), procfs), "proplet-4e51778b9deb");
  root.Write("etc/machine-id", "0123456789abcdef0123456789abcdef\n");
  std::string id = AnonymousPropletId(root.path(), procfs);
  EXPECT_EQ(id, "proplet-4b4c409f6143");
  // Stable, and no part of the machine id shows.
  EXPECT_EQ(AnonymousPropletId(root.path(), procfs), id);
  EXPECT_EQ(id.find("0123456789ab"), std::string::npos);
  // This machine's.
  EXPECT_THAT(AnonymousPropletId("/", "/proc"),
              MatchesRegex("proplet(-[0-9a-f]{12})?"));
}

TEST(PrivacyNodeFactsTest, CreateOmitsHostnameAndIp) {
  const std::string host = Hostname();
  ASSERT_FALSE(host.empty());
  NodeFacts priv = ReadNodeFacts("/proc", /*privacy=*/true);
  EXPECT_EQ(priv.hostname, "");
  EXPECT_EQ(priv.ip, "");
  std::string create = payload::Encode(
      BuildCreate("p-1", "default", "propmon-exporter x", priv));
  json j = json::parse(create);
  EXPECT_FALSE(j["metadata"].contains("hostname")) << create;
  EXPECT_FALSE(j["metadata"].contains("ip")) << create;
  // Control: without privacy the same path does name the host.
  NodeFacts open = ReadNodeFacts("/proc", false);
  EXPECT_EQ(open.hostname, host);
  std::string named = payload::Encode(
      BuildCreate("p-1", "default", "propmon-exporter x", open));
  EXPECT_EQ(json::parse(named)["metadata"]["hostname"], host) << named;
}

// ------------------------------------------------------------ the binary

// What identifies this machine on the network: every non-loopback address
// of getifaddrs(3) and every non-zero MAC of /sys/class/net.
std::vector<std::string> HostAddresses() {
  std::set<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) == 0) {
    for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
      if (a->ifa_addr == nullptr || (a->ifa_flags & IFF_LOOPBACK)) continue;
      char buf[INET6_ADDRSTRLEN] = {};
      const void* src = nullptr;
      if (a->ifa_addr->sa_family == AF_INET) {
        src = &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr;
      } else if (a->ifa_addr->sa_family == AF_INET6) {
        src = &reinterpret_cast<sockaddr_in6*>(a->ifa_addr)->sin6_addr;
      } else {
        continue;
      }
      if (inet_ntop(a->ifa_addr->sa_family, src, buf, sizeof(buf))) {
        out.insert(buf);
      }
    }
    freeifaddrs(list);
  }
  if (DIR* d = opendir("/sys/class/net")) {
    while (dirent* e = readdir(d)) {
      std::string mac = testutil::ReadFileOrEmpty(
          std::string("/sys/class/net/") + e->d_name + "/address");
      while (!mac.empty() && mac.back() == '\n') mac.pop_back();
      if (mac.size() == 17 && mac != "00:00:00:00:00:00") out.insert(mac);
    }
    closedir(d);
  }
  return {out.begin(), out.end()};
}

// True when `word` occurs in `text` not as part of a longer name (letters,
// digits, '-' and '.' around it). For the real host name, which may be as
// short as "vm" (and node_vmstat_* must not count).
bool HasWord(const std::string& text, const std::string& word) {
  auto name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
  };
  for (size_t at = text.find(word); at != std::string::npos;
       at = text.find(word, at + 1)) {
    bool left = at == 0 || !name_char(text[at - 1]);
    size_t end = at + word.size();
    bool right = end == text.size() || !name_char(text[end]);
    if (left && right) return true;
  }
  return false;
}

// Everything one exporter run reported.
struct Report {
  std::map<std::string, std::string> http;  // path -> body
  std::map<std::string, std::string> mqtt;  // topic suffix -> last payload
  std::string proplet_id;
};

class PrivacyBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v :
         {"PROPLET_CLIENT_ID", "PROPLET_ENTITY_ID", "PROPLET_MQTT_ADDRESS",
          "PROPLET_DOMAIN_ID", "PROPLET_CHANNEL_ID"}) {
      unsetenv(v);
    }
    own_uts_ = std::system("unshare --uts true >/dev/null 2>&1") == 0;
    host_ =
        own_uts_ ? "pmhost-" + std::to_string(getpid()) + "-zq7" : Hostname();
    ASSERT_FALSE(host_.empty());
    ASSERT_TRUE(worker_.Start({testutil::TestHelperBinary(), "sleep", "60"}));
  }

  bool Leaks(const std::string& text, const std::string& needle) const {
    return own_uts_ ? text.find(needle) != std::string::npos
                    : HasWord(text, needle);
  }

  Report Run(bool privacy) {
    Report rep;
    mqtt_test::Broker broker;
    EXPECT_TRUE(broker.Start());
    mqtt_test::Inbox inbox;
    auto sub = mqtt_test::Subscriber(
        mqtt_test::Options(broker.Url(), "privacy-sub"), {"m/#"}, 1, &inbox);
    EXPECT_TRUE(sub);
    int port = testutil::FreePort();
    std::string config =
        dir_.Write(privacy ? "private.yaml" : "open.yaml",
                   std::string("privacy: ") + (privacy ? "true" : "false") +
                       "\nmqtt:\n  url: " + broker.Url() +
                       "\n  domain_id: dom-p\n  channel_id: chan-p\n"
                       "  liveliness_interval_seconds: 1\n"
                       "  metrics_interval_seconds: 1\n");
    std::vector<std::string> argv = {
        testutil::ExporterBinary(), "--config.file=" + config,
        "--web.listen-address=127.0.0.1:" + std::to_string(port)};
    if (own_uts_) {
      argv.insert(argv.begin(), {"unshare", "--uts", "--", "/bin/sh", "-c",
                                 "hostname \"$0\" && exec \"$@\"", host_});
    }
    std::vector<std::string> env;
#ifdef PROPMON_FAKE_NVML_PATH
    env = {std::string(kNvmlLibraryEnv) + "=" + PROPMON_FAKE_NVML_PATH,
           "FAKE_NVML_GPUS=1"};
#endif
    Subprocess exporter;
    std::string log = dir_.File(privacy ? "private.log" : "open.log");
    EXPECT_TRUE(exporter.Start(argv, log, env));
    EXPECT_TRUE(WaitUntil([&] { return testutil::PortOpen(port); }, 10s))
        << testutil::ReadFileOrEmpty(log);
    auto r = testutil::Http(
        port, "POST", "/api/v1/tasks",
        R"({"id": "t1", "monitoringProfile": "intensive", "pid": )" +
            std::to_string(worker_.pid()) + "}",
        {"Content-Type: application/json"});
    EXPECT_EQ(r.status, 201) << r.body;
    auto suffixes = [&] {
      std::set<std::string> s;
      for (const auto& t : inbox.topics()) s.insert(t.substr(t.rfind('/') + 1));
      return s;
    };
    EXPECT_TRUE(WaitUntil(
        [&] {
          auto s = suffixes();
          return s.count("create") && s.count("alive") && s.count("metrics") &&
                 s.count("task_metrics");
        },
        30s))
        << testutil::ReadFileOrEmpty(log);
    for (const char* path :
         {"/metrics", "/api/v1/system", "/api/v1/tasks", "/api/v1/tasks/t1",
          "/api/v1/tasks/t1/metrics", "/health", "/"}) {
      auto got = testutil::HttpGet(port, path);
      EXPECT_EQ(got.status, 200) << path;
      rep.http[path] = got.body;
    }
    auto topics = inbox.topics();
    auto payloads = inbox.payloads();
    for (size_t i = 0; i < topics.size(); ++i) {
      rep.mqtt[topics[i].substr(topics[i].rfind('/') + 1)] = payloads[i];
      // The topic itself must not name the host either.
      rep.mqtt["topic:" + topics[i]] = topics[i];
    }
    json sys = json::parse(rep.http["/api/v1/system"], nullptr, false);
    if (sys.is_object() && sys.contains("proplet_id")) {
      rep.proplet_id = sys["proplet_id"].get<std::string>();
    }
    exporter.Stop();
    return rep;
  }

  bool own_uts_ = false;
  std::string host_;
  TempDir dir_;
  Subprocess worker_;
};

TEST_F(PrivacyBinaryTest, NoHostNameIpOrMacAnywhere) {
  if (!own_uts_) {
    ASSERT_GE(host_.size(), 2u) << "host name too short to look for";
  }
  Report rep = Run(/*privacy=*/true);
  ASSERT_EQ(rep.mqtt.count("create"), 1u);
  const std::vector<std::string> addresses = HostAddresses();
  auto check = [&](const std::string& where, const std::string& text) {
    EXPECT_FALSE(Leaks(text, host_))
        << where << " names the host \"" << host_ << "\":\n"
        << text;
    for (const std::string& a : addresses) {
      EXPECT_EQ(text.find(a), std::string::npos)
          << where << " holds the address " << a << ":\n"
          << text;
    }
  };
  for (const auto& [path, body] : rep.http) check(path, body);
  for (const auto& [topic, payload] : rep.mqtt) check(topic, payload);

  // The proplet id is the non-identifying default, everywhere.
  EXPECT_EQ(rep.proplet_id, AnonymousPropletId("/", "/proc"));
  EXPECT_EQ(json::parse(rep.mqtt["alive"])["proplet_id"], rep.proplet_id);
  // The label stays, empty; the GPU's Hostname label too.
  auto s = testutil::ParseProm(rep.http["/metrics"]);
  EXPECT_TRUE(FindSample(s, "node_uname_info", {{"nodename", ""}}));
#ifdef PROPMON_FAKE_NVML_PATH
  EXPECT_TRUE(FindSample(s, "DCGM_FI_DEV_GPU_UTIL", {{"Hostname", ""}}));
#endif
  json create = json::parse(rep.mqtt["create"]);
  EXPECT_FALSE(create["metadata"].contains("hostname"));
  EXPECT_FALSE(create["metadata"].contains("ip"));
  json sys = json::parse(rep.http["/api/v1/system"]);
  EXPECT_FALSE(sys["software"].contains("hostname"));
  for (const auto& i : sys["network_interfaces"]) {
    EXPECT_FALSE(i.contains("mac_address")) << i;
    EXPECT_FALSE(i.contains("ip_addresses")) << i;
  }
}

// The control: the same run and checks without privacy find the host name
// in each place, so the test above can fail.
TEST_F(PrivacyBinaryTest, WithoutPrivacyTheHostIsNamed) {
  Report rep = Run(/*privacy=*/false);
  ASSERT_EQ(rep.mqtt.count("create"), 1u);
  EXPECT_EQ(rep.proplet_id, host_);
  EXPECT_TRUE(Leaks(rep.http["/metrics"], host_));
  EXPECT_TRUE(Leaks(rep.http["/api/v1/system"], host_));
  EXPECT_TRUE(Leaks(rep.http["/api/v1/tasks"], host_));  // proplet_id
  EXPECT_TRUE(Leaks(rep.mqtt["create"], host_));
  EXPECT_TRUE(Leaks(rep.mqtt["task_metrics"], host_));
  auto s = testutil::ParseProm(rep.http["/metrics"]);
  EXPECT_TRUE(FindSample(s, "node_uname_info", {{"nodename", host_}}));
#ifdef PROPMON_FAKE_NVML_PATH
  EXPECT_TRUE(FindSample(s, "DCGM_FI_DEV_GPU_UTIL", {{"Hostname", host_}}));
#endif
  // Addresses, where the host has any: in the system information.
  for (const std::string& a : HostAddresses()) {
    EXPECT_NE(rep.http["/api/v1/system"].find(a), std::string::npos) << a;
  }
}

}  // namespace
}  // namespace propmon::exporter
