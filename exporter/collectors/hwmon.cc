#include "exporter/collectors/hwmon.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "common/file.h"
#include "common/metrics.h"
#include "exporter/parse_util.h"

namespace propmon::exporter {

namespace {

std::string RealPath(const std::string& p) {
  char buf[PATH_MAX];
  if (realpath(p.c_str(), buf) == nullptr) return "";
  return buf;
}

std::string_view Basename(std::string_view p) {
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  size_t slash = p.rfind('/');
  return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

std::string_view Dirname(std::string_view p) {
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  size_t slash = p.rfind('/');
  return slash == std::string_view::npos ? std::string_view()
                                         : p.substr(0, slash);
}

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> names;
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    names.emplace_back(e->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool IsDir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Splits "temp12_input" into sensor "temp12" and property "input".
bool SplitTempFile(std::string_view f, std::string_view* sensor,
                   std::string_view* prop) {
  if (f.substr(0, 4) != "temp") return false;
  size_t i = 4;
  while (i < f.size() && f[i] >= '0' && f[i] <= '9') ++i;
  if (i == 4 || i >= f.size() || f[i] != '_') return false;
  *sensor = f.substr(0, i);
  *prop = f.substr(i + 1);
  return true;
}

struct TempSensor {
  std::optional<double> input, max, crit;
  std::string label;
};

}  // namespace

std::string CleanHwmonName(std::string_view name) {
  std::string r;
  r.reserve(name.size());
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ':' ||
              c == '_';
    r.push_back(ok ? c : '_');
  }
  size_t b = r.find_first_not_of('_');
  if (b == std::string::npos) return "";
  size_t e = r.find_last_not_of('_');
  return r.substr(b, e - b + 1);
}

std::string HwmonChipName(std::string_view device_realpath,
                          std::string_view name_file,
                          std::string_view hwmon_dir_realpath) {
  if (!device_realpath.empty()) {
    std::string dev = CleanHwmonName(Basename(device_realpath));
    std::string type = CleanHwmonName(Basename(Dirname(device_realpath)));
    if (!type.empty() && !dev.empty()) return type + "_" + dev;
    if (!dev.empty()) return dev;
  }
  std::string n = CleanHwmonName(TrimSpace(name_file));
  if (!n.empty()) return n;
  return CleanHwmonName(Basename(hwmon_dir_realpath));
}

Status HwmonCollector::Collect(std::vector<prometheus::MetricFamily>* out) {
  using prometheus::MetricType;
  FamilyBuilder temp("node_hwmon_temp_celsius",
                     "Hardware monitor for temperature (input)",
                     MetricType::Gauge);
  FamilyBuilder tmax("node_hwmon_temp_max_celsius",
                     "Hardware monitor for temperature (max)",
                     MetricType::Gauge);
  FamilyBuilder tcrit("node_hwmon_temp_crit_celsius",
                      "Hardware monitor for temperature (crit)",
                      MetricType::Gauge);
  FamilyBuilder labels_f("node_hwmon_sensor_label",
                         "Label for given chip and sensor", MetricType::Gauge);
  FamilyBuilder names_f("node_hwmon_chip_names",
                        "Annotation metric for human-readable chip names",
                        MetricType::Gauge);

  const std::string class_dir = JoinPath(paths_.sysfs, "class/hwmon");
  std::set<std::string> chips_seen;
  for (const std::string& entry : ListDir(class_dir)) {
    const std::string dir = JoinPath(class_dir, entry);
    std::string name_file;
    bool has_name = ReadFileTo(JoinPath(dir, "name"), &buf_, 4096).ok();
    if (has_name) name_file = buf_;
    std::string chip = HwmonChipName(RealPath(JoinPath(dir, "device")),
                                     name_file, RealPath(dir));
    // Two hwmon dirs resolving to one chip name would emit duplicate
    // series (invalid exposition): the first one wins.
    if (chip.empty() || !chips_seen.insert(chip).second) continue;
    if (has_name) {
      std::string cn = CleanHwmonName(TrimSpace(name_file));
      if (!cn.empty()) names_f.Add({{"chip", chip}, {"chip_name", cn}}, 1);
    }
    // Sensors live in the hwmon dir; older drivers put them in device/.
    std::map<std::string, TempSensor> sensors;
    std::vector<std::string> dirs{dir};
    if (IsDir(JoinPath(dir, "device"))) dirs.push_back(JoinPath(dir, "device"));
    for (const std::string& d : dirs) {
      for (const std::string& f : ListDir(d)) {
        std::string_view sensor, prop;
        if (!SplitTempFile(f, &sensor, &prop)) continue;
        if (prop != "input" && prop != "max" && prop != "crit" &&
            prop != "label") {
          continue;
        }
        TempSensor& t = sensors[std::string(sensor)];
        if (!ReadFileTo(JoinPath(d, f), &buf_, 4096).ok()) continue;
        if (prop == "label") {
          if (t.label.empty()) t.label = std::string(TrimSpace(buf_));
          continue;
        }
        double milli = 0;
        if (!ParseDouble(TrimSpace(buf_), &milli)) continue;
        std::optional<double>* dst = prop == "input" ? &t.input
                                     : prop == "max" ? &t.max
                                                     : &t.crit;
        if (!*dst) *dst = milli / 1000.0;
      }
    }
    for (const auto& [sensor, t] : sensors) {
      Labels l{{"chip", chip}, {"sensor", sensor}};
      if (t.input) temp.Add(l, *t.input);
      if (t.max) tmax.Add(l, *t.max);
      if (t.crit) tcrit.Add(l, *t.crit);
      if (!t.label.empty()) {
        labels_f.Add({{"chip", chip}, {"label", t.label}, {"sensor", sensor}},
                     1);
      }
    }
  }
  names_f.MoveTo(out);
  labels_f.MoveTo(out);
  tcrit.MoveTo(out);
  temp.MoveTo(out);
  tmax.MoveTo(out);
  return Status::Ok();
}

}  // namespace propmon::exporter
