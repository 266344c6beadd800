#include "exporter/collectors/diskstats.h"

#include "common/file.h"
#include "common/metrics.h"
#include "exporter/parse_util.h"

namespace propmon::exporter {

namespace {

constexpr double kSectorBytes = 512.0;  // /proc/diskstats always counts 512 B.

struct Column {
  int index;  // Into DiskStats::stats.
  const char* name;
  const char* help;
  double scale;  // Multiplier to base units.
  bool counter;
};

// node_exporter 1.5 names, in /proc/diskstats order.
constexpr Column kColumns[] = {
    {0, "node_disk_reads_completed_total",
     "The total number of reads completed successfully.", 1, true},
    {1, "node_disk_reads_merged_total", "The total number of reads merged.", 1,
     true},
    {2, "node_disk_read_bytes_total",
     "The total number of bytes read successfully.", kSectorBytes, true},
    {3, "node_disk_read_time_seconds_total",
     "The total number of seconds spent by all reads.", 0.001, true},
    {4, "node_disk_writes_completed_total",
     "The total number of writes completed successfully.", 1, true},
    {5, "node_disk_writes_merged_total", "The number of writes merged.", 1,
     true},
    {6, "node_disk_written_bytes_total",
     "The total number of bytes written successfully.", kSectorBytes, true},
    {7, "node_disk_write_time_seconds_total",
     "This is the total number of seconds spent by all writes.", 0.001, true},
    {8, "node_disk_io_now", "The number of I/Os currently in progress.", 1,
     false},
    {9, "node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.",
     0.001, true},
    {10, "node_disk_io_time_weighted_seconds_total",
     "The weighted # of seconds spent doing I/Os.", 0.001, true},
    {11, "node_disk_discards_completed_total",
     "The total number of discards completed successfully.", 1, true},
    {12, "node_disk_discards_merged_total",
     "The total number of discards merged.", 1, true},
    {13, "node_disk_discarded_sectors_total",
     "The total number of sectors discarded successfully.", 1, true},
    {14, "node_disk_discard_time_seconds_total",
     "This is the total number of seconds spent by all discards.", 0.001, true},
    {15, "node_disk_flush_requests_total",
     "The total number of flush requests completed successfully", 1, true},
    {16, "node_disk_flush_requests_time_seconds_total",
     "This is the total number of seconds spent by all flush requests.", 0.001,
     true},
};

Status BadLine(std::string_view line) {
  return InvalidArgument("diskstats: malformed line \"" +
                         std::string(line.substr(0, 160)) + "\"");
}

}  // namespace

StatusOr<std::vector<DiskStats>> ParseDiskstats(std::string_view text) {
  std::vector<DiskStats> disks;
  std::vector<std::string_view> f;
  std::string_view line;
  while (NextLine(&text, &line)) {
    SplitFields(line, &f);
    if (f.empty()) continue;
    if (f.size() < 3 + 11) return BadLine(line);
    DiskStats d;
    uint64_t major = 0, minor = 0;
    if (!ParseU64(f[0], &major) || !ParseU64(f[1], &minor) ||
        major > UINT32_MAX || minor > UINT32_MAX) {
      return BadLine(line);
    }
    d.major = static_cast<uint32_t>(major);
    d.minor = static_cast<uint32_t>(minor);
    d.device.assign(f[2]);
    d.stats.resize(f.size() - 3);
    for (size_t i = 3; i < f.size(); ++i) {
      if (!ParseU64(f[i], &d.stats[i - 3])) return BadLine(line);
    }
    disks.push_back(std::move(d));
  }
  return disks;
}

UdevDiskInfo ParseUdevData(std::string_view text) {
  UdevDiskInfo info;
  std::string scsi_serial;
  std::string_view line;
  while (NextLine(&text, &line)) {
    if (line.substr(0, 2) != "E:") continue;
    line.remove_prefix(2);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = line.substr(0, eq);
    std::string value(line.substr(eq + 1));
    if (key == "ID_PATH") {
      info.path = std::move(value);
    } else if (key == "ID_WWN") {
      info.wwn = std::move(value);
    } else if (key == "ID_MODEL") {
      info.model = std::move(value);
    } else if (key == "ID_SERIAL_SHORT") {
      info.serial = std::move(value);
    } else if (key == "SCSI_IDENT_SERIAL") {
      scsi_serial = std::move(value);
    } else if (key == "ID_REVISION") {
      info.revision = std::move(value);
    }
  }
  if (info.serial.empty()) info.serial = std::move(scsi_serial);
  return info;
}

Status DiskstatsCollector::Collect(std::vector<prometheus::MetricFamily>* out) {
  Status s = ReadFileTo(JoinPath(paths_.procfs, "diskstats"), &buf_);
  if (!s.ok()) return s;
  auto disks = ParseDiskstats(buf_);
  if (!disks.ok()) return disks.status();

  std::vector<FamilyBuilder> fams;
  fams.reserve(std::size(kColumns));
  for (const Column& c : kColumns) {
    fams.emplace_back(c.name, c.help,
                      c.counter ? prometheus::MetricType::Counter
                                : prometheus::MetricType::Gauge);
  }
  FamilyBuilder info("node_disk_info", "Info of /sys/block/<block_device>.",
                     prometheus::MetricType::Gauge);
  for (const DiskStats& d : *disks) {
    if (exclude_.Ignored(d.device)) continue;
    Labels dev{{"device", d.device}};
    for (size_t i = 0; i < std::size(kColumns); ++i) {
      const Column& c = kColumns[i];
      if (c.index >= static_cast<int>(d.stats.size())) break;
      fams[i].Add(dev, static_cast<double>(d.stats[c.index]) * c.scale);
    }
    UdevDiskInfo u;
    std::string udev_file =
        JoinPath(paths_.udev_data,
                 "b" + std::to_string(d.major) + ":" + std::to_string(d.minor));
    if (ReadFileTo(udev_file, &udev_buf_, 1 << 20).ok()) {
      u = ParseUdevData(udev_buf_);
    }
    info.Add({{"device", d.device},
              {"major", std::to_string(d.major)},
              {"minor", std::to_string(d.minor)},
              {"path", u.path},
              {"wwn", u.wwn},
              {"model", u.model},
              {"serial", u.serial},
              {"revision", u.revision}},
             1);
  }
  for (auto& f : fams) f.MoveTo(out);
  info.MoveTo(out);
  return Status::Ok();
}

}  // namespace propmon::exporter
