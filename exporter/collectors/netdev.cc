#include "exporter/collectors/netdev.h"

#include "common/file.h"
#include "common/metrics.h"
#include "exporter/parse_util.h"

namespace propmon::exporter {

namespace {
Status BadLine(std::string_view line) {
  return InvalidArgument("net/dev: malformed line \"" +
                         std::string(line.substr(0, 160)) + "\"");
}

bool ValidColumn(std::string_view c) {
  if (c.empty()) return false;
  for (char ch : c) {
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) {
      return false;
    }
  }
  return true;
}

bool ParseColumns(std::string_view part, std::vector<std::string>* cols) {
  std::vector<std::string_view> f;
  SplitFields(part, &f);
  if (f.empty()) return false;
  for (auto c : f) {
    if (!ValidColumn(c)) return false;
    cols->emplace_back(c);
  }
  return true;
}
}  // namespace

StatusOr<NetDevTable> ParseNetDev(std::string_view text) {
  NetDevTable t;
  std::string_view line;
  // Line 1: "Inter-|   Receive   |  Transmit"; line 2 names the columns.
  if (!NextLine(&text, &line)) return InvalidArgument("net/dev: empty");
  if (!NextLine(&text, &line)) return BadLine(line);
  size_t p1 = line.find('|');
  size_t p2 = p1 == std::string_view::npos ? p1 : line.find('|', p1 + 1);
  if (p2 == std::string_view::npos ||
      !ParseColumns(line.substr(p1 + 1, p2 - p1 - 1), &t.receive_columns) ||
      !ParseColumns(line.substr(p2 + 1), &t.transmit_columns)) {
    return BadLine(line);
  }
  std::vector<std::string_view> f;
  while (NextLine(&text, &line)) {
    if (TrimSpace(line).empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return BadLine(line);
    std::string_view name = TrimSpace(line.substr(0, colon));
    if (name.empty()) return BadLine(line);
    SplitFields(line.substr(colon + 1), &f);
    const size_t nr = t.receive_columns.size();
    const size_t nt = t.transmit_columns.size();
    if (f.size() != nr + nt) return BadLine(line);
    NetDevTable::Device d;
    d.name.assign(name);
    d.receive.resize(nr);
    d.transmit.resize(nt);
    for (size_t i = 0; i < nr; ++i) {
      if (!ParseU64(f[i], &d.receive[i])) return BadLine(line);
    }
    for (size_t i = 0; i < nt; ++i) {
      if (!ParseU64(f[nr + i], &d.transmit[i])) return BadLine(line);
    }
    t.devices.push_back(std::move(d));
  }
  return t;
}

Status NetdevCollector::Collect(std::vector<prometheus::MetricFamily>* out) {
  Status s = ReadFileTo(JoinPath(paths_.procfs, "net/dev"), &buf_);
  if (!s.ok()) return s;
  auto t = ParseNetDev(buf_);
  if (!t.ok()) return t.status();

  std::vector<FamilyBuilder> rx, tx;
  for (const auto& c : t->receive_columns) {
    rx.emplace_back("node_network_receive_" + c + "_total",
                    "Network device statistic receive_" + c + ".",
                    prometheus::MetricType::Counter);
  }
  for (const auto& c : t->transmit_columns) {
    tx.emplace_back("node_network_transmit_" + c + "_total",
                    "Network device statistic transmit_" + c + ".",
                    prometheus::MetricType::Counter);
  }
  FamilyBuilder nohandler("node_network_receive_nohandler_total",
                          "Network device statistic receive_nohandler.",
                          prometheus::MetricType::Counter);
  for (const auto& d : t->devices) {
    if (exclude_.Ignored(d.name)) continue;
    Labels dev{{"device", d.name}};
    for (size_t i = 0; i < rx.size(); ++i) rx[i].Add(dev, d.receive[i]);
    for (size_t i = 0; i < tx.size(); ++i) tx[i].Add(dev, d.transmit[i]);
    // Not in /proc/net/dev; sysfs has it (Linux 4.7+). Absent otherwise.
    uint64_t v = 0;
    if (d.name.find('/') == std::string::npos &&
        ReadFileTo(JoinPath(paths_.sysfs,
                            "class/net/" + d.name + "/statistics/rx_nohandler"),
                   &small_, 64)
            .ok() &&
        ParseU64(TrimSpace(small_), &v)) {
      nohandler.Add(dev, static_cast<double>(v));
    }
  }
  for (auto& f : rx) f.MoveTo(out);
  nohandler.MoveTo(out);
  for (auto& f : tx) f.MoveTo(out);
  return Status::Ok();
}

}  // namespace propmon::exporter
