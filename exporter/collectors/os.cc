#include "exporter/collectors/os.h"

#include "common/file.h"
#include "common/metrics.h"
#include "exporter/parse_util.h"

namespace propmon::exporter {

namespace {
bool ValidKey(std::string_view k) {
  if (k.empty() || (k[0] >= '0' && k[0] <= '9')) return false;
  for (char c : k) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
          (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

std::string Unquote(std::string_view v) {
  std::string r;
  char quote = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (quote == 0 && (c == '"' || c == '\'')) {
      quote = c;
    } else if (quote != 0 && c == quote) {
      quote = 0;
    } else if (quote != '\'' && c == '\\' && i + 1 < v.size()) {
      r.push_back(v[++i]);
    } else if (quote == 0 && c == '#' && i > 0 &&
               (v[i - 1] == ' ' || v[i - 1] == '\t')) {
      // A comment after an unquoted value; its leading blanks go too.
      while (!r.empty() && (r.back() == ' ' || r.back() == '\t')) r.pop_back();
      break;
    } else {
      r.push_back(c);
    }
  }
  return r;
}
}  // namespace

std::map<std::string, std::string> ParseOsRelease(std::string_view text) {
  std::map<std::string, std::string> r;
  std::string_view line;
  while (NextLine(&text, &line)) {
    line = TrimSpace(line);
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = TrimSpace(line.substr(0, eq));
    if (!ValidKey(key)) continue;
    r[std::string(key)] = Unquote(TrimSpace(line.substr(eq + 1)));
  }
  return r;
}

std::optional<double> OsVersionNumber(std::string_view v) {
  size_t i = 0;
  while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
  if (i == 0) return std::nullopt;
  if (i < v.size() && v[i] == '.') {
    ++i;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
  }
  std::string_view num = v.substr(0, i);
  if (num.back() == '.') num.remove_suffix(1);
  double d = 0;
  if (!ParseDouble(num, &d)) return std::nullopt;
  return d;
}

Status OsCollector::Collect(std::vector<prometheus::MetricFamily>* out) {
  Status s =
      ReadFileTo(JoinPath(paths_.rootfs, "etc/os-release"), &buf_, 1 << 20);
  if (s.code() == StatusCode::kNotFound) {
    s = ReadFileTo(JoinPath(paths_.rootfs, "usr/lib/os-release"), &buf_,
                   1 << 20);
  }
  if (!s.ok()) return s;
  auto kv = ParseOsRelease(buf_);
  auto get = [&kv](const char* k) {
    auto it = kv.find(k);
    return it == kv.end() ? std::string() : it->second;
  };
  FamilyBuilder info("node_os_info",
                     "A metric with a constant '1' value labeled by build_id, "
                     "id, id_like, image_id, image_version, name, "
                     "pretty_name, variant, variant_id, version, "
                     "version_codename, version_id.",
                     prometheus::MetricType::Gauge);
  info.Add({{"build_id", get("BUILD_ID")},
            {"id", get("ID")},
            {"id_like", get("ID_LIKE")},
            {"image_id", get("IMAGE_ID")},
            {"image_version", get("IMAGE_VERSION")},
            {"name", get("NAME")},
            {"pretty_name", get("PRETTY_NAME")},
            {"variant", get("VARIANT")},
            {"variant_id", get("VARIANT_ID")},
            {"version", get("VERSION")},
            {"version_codename", get("VERSION_CODENAME")},
            {"version_id", get("VERSION_ID")}},
           1);
  info.MoveTo(out);
  if (auto v = OsVersionNumber(get("VERSION_ID"))) {
    FamilyBuilder ver("node_os_version",
                      "Metric containing the major.minor part of the OS "
                      "version.",
                      prometheus::MetricType::Gauge);
    ver.Add(
        {{"id", get("ID")}, {"id_like", get("ID_LIKE")}, {"name", get("NAME")}},
        *v);
    ver.MoveTo(out);
  }
  return Status::Ok();
}

}  // namespace propmon::exporter
