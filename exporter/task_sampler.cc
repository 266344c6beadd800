#include "exporter/task_sampler.h"

#include <algorithm>

namespace propmon::exporter {
namespace {

void CountError(const Status& s, SampleErrors* e) {
  if (s.code() == StatusCode::kNotFound) {
    ++e->process_vanished;
  } else if (s.code() == StatusCode::kInvalidArgument) {
    ++e->parse_failed;
  } else {
    ++e->read_failed;
  }
}

}  // namespace

TaskSampler::TaskSampler(pid_t root_pid, bool include_children,
                         std::string host_netns,
                         std::optional<uint64_t> root_start_ticks)
    : root_pid_(root_pid),
      include_children_(include_children),
      host_netns_(std::move(host_netns)),
      root_start_ticks_(root_start_ticks) {}

bool TaskSampler::Sample(ProcReader* reader, const MonitoringProfile& profile,
                         double now_unix, double now_mono,
                         std::optional<double> host_uptime, TaskSample* out,
                         SampleErrors* errors) {
  *out = TaskSample();
  out->timestamp = now_unix;
  if (!children_file_) children_file_ = reader->SupportsChildrenFile();
  if (!mem_total_ && profile.collect_memory) {
    auto mt = reader->ReadMemTotal();
    if (mt.ok() && *mt > 0) mem_total_ = *mt;
  }

  // 1. Find the live members: the root, every previously seen member still
  // alive (same start time), and, with include_children, their descendants.
  // The scratch vectors keep their capacity: a steady-state sample allocates
  // nothing. A task has few processes, so membership is a linear search.
  std::vector<pid_t>& frontier = frontier_;
  std::vector<pid_t>& live = live_;
  std::vector<ProcStat>& live_stats = live_stats_;
  frontier.clear();
  live.clear();
  live_stats.clear();
  if (!ended_) frontier.push_back(root_pid_);
  for (pid_t p : pids_) {
    if (p != root_pid_) frontier.push_back(p);
  }
  auto contains = [](const std::vector<pid_t>& v, size_t end, pid_t p) {
    return std::find(v.begin(), v.begin() + end, p) != v.begin() + end;
  };
  std::unordered_map<pid_t, std::vector<pid_t>> scan_children;
  bool scanned = false;
  for (size_t i = 0; i < frontier.size(); ++i) {
    pid_t pid = frontier[i];
    if (contains(frontier, i, pid)) continue;  // Visited already.
    auto st = reader->ReadStat(pid);
    if (!st.ok()) {
      if (st.status().code() != StatusCode::kNotFound)
        CountError(st.status(), errors);
      continue;
    }
    auto known = procs_.find(pid);
    if (pid == root_pid_) {
      // Another start time: the root has exited and its pid was reused by an
      // unrelated process, which is not this task.
      if (root_start_ticks_ && *root_start_ticks_ != st->starttime) continue;
      root_start_ticks_ = st->starttime;
    } else if (known != procs_.end() &&
               known->second.start_ticks != st->starttime) {
      continue;  // The pid was reused by an unrelated process.
    }
    live.push_back(pid);
    if (include_children_) {
      std::vector<pid_t>& kids = kids_;
      kids.clear();
      if (*children_file_) {
        if (st->num_threads <= 1) {
          (void)reader->AppendChildren(pid, pid, &kids);
        } else if (reader->ListThreadsInto(pid, &tids_).ok()) {
          for (pid_t tid : tids_) (void)reader->AppendChildren(pid, tid, &kids);
        }
      } else {
        if (!scanned) {
          scanned = true;
          for (pid_t p : reader->ListPids()) {
            auto s = reader->ReadStat(p);
            if (s.ok()) scan_children[s->ppid].push_back(p);
          }
        }
        auto it = scan_children.find(pid);
        if (it != scan_children.end()) kids = it->second;
      }
      for (pid_t k : kids) {
        if (!contains(frontier, frontier.size(), k)) frontier.push_back(k);
      }
    }
    live_stats.push_back(std::move(*st));
  }

  // 2. Per-process accounting.
  for (auto& [pid, ps] : procs_) ps.seen = false;
  uint64_t mem = 0;
  int64_t threads = 0;
  int64_t fds = 0;
  bool fds_ok = profile.collect_file_descriptors;
  for (size_t i = 0; i < live.size(); ++i) {
    const ProcStat& st = live_stats[i];
    ProcState& ps = procs_[st.pid];
    ps.seen = true;
    ps.start_ticks = st.starttime;
    ps.ppid = st.ppid;
    ps.cpu_ticks = st.utime + st.stime + st.cutime + st.cstime;
    mem += static_cast<uint64_t>(std::max<int64_t>(st.rss_pages, 0)) *
           static_cast<uint64_t>(PageSize());
    threads += st.num_threads;
    if (profile.collect_disk_io) {
      auto io = reader->ReadIo(st.pid);
      if (io.ok()) {
        ps.read_bytes = io->read_bytes;
        ps.write_bytes = io->write_bytes;
        have_io_ = true;
      } else {
        CountError(io.status(), errors);
      }
    }
    if (fds_ok && st.state != 'Z') {
      auto n = reader->CountFds(st.pid);
      if (n.ok()) {
        fds += *n;
      } else if (n.status().code() != StatusCode::kNotFound) {
        CountError(n.status(), errors);
        fds_ok = false;  // A partial count would be a wrong number.
      }
    }
  }

  // 3. Processes that vanished: absorbed by a live ancestor's cutime and io
  // (the kernel adds a reaped child's totals to its parent), or lost.
  std::vector<pid_t>& vanished = vanished_;
  vanished.clear();
  for (const auto& [pid, ps] : procs_) {
    if (!ps.seen) vanished.push_back(pid);
  }
  for (pid_t pid : vanished) {
    const ProcState& gone = procs_[pid];
    pid_t anc = gone.ppid;
    bool absorbed = false;
    for (int depth = 0; depth < 64 && anc > 0; ++depth) {
      if (contains(live, live.size(), anc)) {
        absorbed = true;
        break;
      }
      auto a = procs_.find(anc);
      if (a == procs_.end() || a->second.seen) break;
      anc = a->second.ppid;
    }
    if (!absorbed) {
      lost_cpu_ticks_ += gone.cpu_ticks;
      lost_read_bytes_ += gone.read_bytes;
      lost_write_bytes_ += gone.write_bytes;
    }
  }
  for (pid_t pid : vanished) procs_.erase(pid);

  uint64_t cpu = lost_cpu_ticks_;
  uint64_t rd = lost_read_bytes_;
  uint64_t wr = lost_write_bytes_;
  for (pid_t p : live) {
    const ProcState& ps = procs_[p];
    cpu += ps.cpu_ticks;
    rd += ps.read_bytes;
    wr += ps.write_bytes;
  }
  last_cpu_ticks_ = std::max(last_cpu_ticks_, cpu);
  last_read_ = std::max(last_read_, rd);
  last_write_ = std::max(last_write_, wr);
  pids_ = live;
  // A zombie has exited: the task lives while a non-zombie member does.
  bool alive = false;
  for (const ProcStat& st : live_stats) alive = alive || st.state != 'Z';
  if (!alive) ended_ = true;

  // 4. Fill the sample as the profile asks.
  double cpu_seconds = static_cast<double>(last_cpu_ticks_) / ClockTicks();
  if (profile.collect_cpu) {
    out->cpu_seconds = cpu_seconds;
    if (prev_cpu_seconds_ && now_mono > prev_mono_) {
      out->cpu_usage_ratio = std::max(
          0.0, (cpu_seconds - *prev_cpu_seconds_) / (now_mono - prev_mono_));
    }
  }
  prev_cpu_seconds_ = cpu_seconds;
  prev_mono_ = now_mono;
  if (profile.collect_disk_io && have_io_) {
    out->disk_read_bytes = last_read_;
    out->disk_write_bytes = last_write_;
  }
  if (profile.collect_network_io && alive) {
    auto ns = reader->NetNamespaceView(live.front());
    if (ns.ok() && !host_netns_.empty() && *ns != host_netns_) {
      auto net = reader->ReadNetDev(live.front());
      if (net.ok()) {
        last_rx_ = std::max(last_rx_, net->rx_bytes);
        last_tx_ = std::max(last_tx_, net->tx_bytes);
        have_net_ = true;
      } else {
        CountError(net.status(), errors);
      }
    }
  }
  if (profile.collect_network_io && have_net_) {
    out->network_rx_bytes = last_rx_;
    out->network_tx_bytes = last_tx_;
  }
  if (root_start_ticks_) {
    double since_boot = static_cast<double>(*root_start_ticks_) / ClockTicks();
    if (alive && host_uptime) {
      out->uptime_seconds = std::max(0.0, *host_uptime - since_boot);
    }
    // From the boot time (whole seconds), so it stays constant while the
    // task lives: changes() over it counts restarts.
    auto boot = reader->ReadBootTime();
    if (boot.ok())
      out->start_time_seconds = static_cast<double>(*boot) + since_boot;
  }
  out->processes = static_cast<int>(live.size());
  if (!alive) return false;
  if (profile.collect_memory) {
    out->memory_bytes = mem;
    if (mem_total_) {
      out->memory_usage_ratio =
          static_cast<double>(mem) / static_cast<double>(*mem_total_);
    }
  }
  if (profile.collect_threads) out->threads = threads;
  if (profile.collect_file_descriptors) {
    if (fds_ok) out->open_fds = fds;
    if (live.front() == root_pid_) {
      // The limit changes rarely (prlimit): re-read it every 30 s, not on
      // every sample.
      if (!max_fds_read_at_ || now_mono - *max_fds_read_at_ >= 30) {
        auto lim = reader->ReadMaxOpenFiles(root_pid_);
        if (lim.ok()) {
          max_fds_ = *lim;
          max_fds_read_at_ = now_mono;
        }
      }
      out->max_fds = max_fds_;
    }
  }
  return true;
}

}  // namespace propmon::exporter
