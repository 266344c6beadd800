// StreamHub: fans decoded messages out to Server-Sent Events clients
// (GET /api/v1/stream), each optionally filtered by task_id and proplet_id.
//
// The worker calls Publish(); it never blocks on a client: each client has a
// bounded queue of events, and an event that does not fit is dropped for
// that client and counted. Each client is served on its own HTTP thread by
// Serve(), which returns when the client goes away or the hub shuts down.
//
// Thread-safety: thread-safe.
#ifndef PROPMON_BRIDGE_STREAM_HUB_H_
#define PROPMON_BRIDGE_STREAM_HUB_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/http_server.h"

namespace propmon::bridge {

class StreamHub {
 public:
  struct Options {
    std::size_t max_clients = 8;
    std::size_t max_queued_events = 1000;  // per client
    std::chrono::milliseconds keepalive{15000};
  };
  explicit StreamHub(const Options& options);
  ~StreamHub();

  // True when at least one client is connected (lets the worker skip
  // formatting events nobody reads).
  bool HasClients() const { return clients_.load() > 0; }

  // Offers one event to every client whose filter matches. `event` is the
  // SSE event name, `data` one line of JSON. An empty task_id/proplet_id
  // matches only clients that do not filter on it.
  void Publish(std::string_view event, std::string_view task_id,
               std::string_view proplet_id, std::string_view data);

  // Serves one SSE client until it disconnects or Shutdown(). Query
  // parameters: task_id, proplet_id (exact match). Writes ": connected"
  // first, then events, and a ": keepalive" comment when idle.
  void Serve(const HttpRequest& req, HttpStream& stream);

  // Wakes and ends every Serve(); later clients are refused.
  void Shutdown();

  std::size_t clients() const { return clients_.load(); }
  std::uint64_t sent_total() const { return sent_.load(); }
  std::uint64_t dropped_total() const { return dropped_.load(); }

 private:
  struct Client {
    std::optional<std::string> task_id;
    std::optional<std::string> proplet_id;
    std::deque<std::string> queue;  // formatted SSE frames
  };

  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::list<std::shared_ptr<Client>> list_;
  bool shutdown_ = false;
  std::atomic<std::size_t> clients_{0};
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace propmon::bridge

#endif  // PROPMON_BRIDGE_STREAM_HUB_H_
