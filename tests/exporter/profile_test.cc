#include "exporter/profile.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

namespace propmon::exporter {
namespace {

using nlohmann::json;

TEST(ProfileTest, PresetsMatchSpec) {
  struct Want {
    const char* name;
    int interval;
    int history;
    bool disk, net, threads, fds, mqtt, retain;
  };
  const Want want[] = {
      {"standard", 10, 100, true, true, true, true, true, true},
      {"minimal", 60, 0, false, false, false, false, false, false},
      {"intensive", 1, 1000, true, true, true, true, true, true},
      {"batch", 30, 200, true, false, false, false, true, true},
      {"realtime_api", 5, 500, false, true, true, true, true, true},
      {"daemon", 120, 500, true, true, true, true, true, true},
  };
  EXPECT_EQ(PresetNames().size(), 6u);
  for (const Want& w : want) {
    auto p = PresetProfile(w.name);
    ASSERT_TRUE(p.ok()) << w.name;
    EXPECT_EQ(p->name, w.name);
    EXPECT_TRUE(p->enabled);
    EXPECT_TRUE(p->collect_cpu);
    EXPECT_TRUE(p->collect_memory);
    EXPECT_EQ(p->interval_seconds, w.interval) << w.name;
    EXPECT_EQ(p->history_size, w.history) << w.name;
    EXPECT_EQ(p->collect_disk_io, w.disk) << w.name;
    EXPECT_EQ(p->collect_network_io, w.net) << w.name;
    EXPECT_EQ(p->collect_threads, w.threads) << w.name;
    EXPECT_EQ(p->collect_file_descriptors, w.fds) << w.name;
    EXPECT_EQ(p->export_to_mqtt, w.mqtt) << w.name;
    EXPECT_EQ(p->retain_history, w.retain) << w.name;
  }
  EXPECT_FALSE(PresetProfile("turbo").ok());
  EXPECT_NE(PresetProfile("turbo").status().message().find("turbo"),
            std::string::npos);
}

TEST(ProfileTest, DefaultByDaemonFlag) {
  EXPECT_EQ(DefaultProfile(true).name, "daemon");
  EXPECT_EQ(DefaultProfile(false).name, "standard");
}

TEST(ProfileTest, MissingFieldsTakeStandardValues) {
  auto p = ProfileFromJson(json{{"interval", 5}, {"collect_disk_io", false}});
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->name, "custom");
  EXPECT_EQ(p->interval_seconds, 5);
  EXPECT_FALSE(p->collect_disk_io);
  EXPECT_TRUE(p->collect_network_io);
  EXPECT_EQ(p->history_size, 100);
}

TEST(ProfileTest, SeedExampleParses) {
  auto p = ProfileFromJson(json::parse(R"({
    "enabled": true, "interval": 5, "collect_cpu": true, "collect_memory": true,
    "collect_disk_io": true, "collect_network_io": true, "collect_threads": true,
    "collect_file_descriptors": true, "export_to_mqtt": true,
    "retain_history": true, "history_size": 200})"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->history_size, 200);
  EXPECT_TRUE(p->KeepsHistory());
}

TEST(ProfileTest, StringIsPresetName) {
  auto p = ProfileFromJson(json("batch"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->name, "batch");
}

TEST(ProfileTest, ValidationNamesTheField) {
  const std::map<std::string, json> bad = {
      {"monitoring_profile.interval", json{{"interval", 0}}},
      {"monitoring_profile.interval", json{{"interval", 121}}},
      {"monitoring_profile.interval", json{{"interval", 2.5}}},
      {"monitoring_profile.interval", json{{"interval", "10"}}},
      {"monitoring_profile.history_size", json{{"history_size", -1}}},
      {"monitoring_profile.history_size", json{{"history_size", 1e12}}},
      {"monitoring_profile.collect_cpu", json{{"collect_cpu", 1}}},
      {"monitoring_profile.colect_cpu", json{{"colect_cpu", true}}},
      {"monitoring_profile", json::array()},
      {"monitoring_profile", json("turbo")},
  };
  for (const auto& [field, j] : bad) {
    auto p = ProfileFromJson(j);
    ASSERT_FALSE(p.ok()) << j.dump();
    EXPECT_EQ(p.status().message().rfind(field, 0), 0u)
        << "message \"" << p.status().message() << "\" should start with "
        << field;
  }
}

TEST(ProfileTest, ProfileRoundTripsThroughJson) {
  auto p = PresetProfile("realtime_api");
  auto back = ProfileFromJson(ProfileToJson(*p));
  ASSERT_TRUE(back.ok()) << back.status().message();
  MonitoringProfile want = *p;
  want.name = "custom";
  EXPECT_EQ(*back, want);
}

TEST(ProfileTest, GlobalsFromEnv) {
  static std::map<std::string, std::string> env;
  auto lookup = [](const char* k) -> const char* {
    auto it = env.find(k);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  env = {};
  auto g = GlobalsFromEnv(lookup);
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->enable_monitoring);
  EXPECT_EQ(g->metrics_interval_seconds, 10);
  env = {{"PROPLET_ENABLE_MONITORING", "false"},
         {"PROPLET_METRICS_INTERVAL", "30"}};
  g = GlobalsFromEnv(lookup);
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->enable_monitoring);
  EXPECT_EQ(g->metrics_interval_seconds, 30);
  env = {{"PROPLET_ENABLE_MONITORING", "maybe"}};
  EXPECT_NE(GlobalsFromEnv(lookup).status().message().find(
                "PROPLET_ENABLE_MONITORING"),
            std::string::npos);
  env = {{"PROPLET_METRICS_INTERVAL", "10s"}};
  EXPECT_NE(GlobalsFromEnv(lookup).status().message().find(
                "PROPLET_METRICS_INTERVAL"),
            std::string::npos);
}

}  // namespace
}  // namespace propmon::exporter
